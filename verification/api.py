"""``POST /api/verify/``: verify up to 1,000 counterparties in one call (docs/api.md, "Verify counterparties").

Read-only, no account needed; rate limited (verification/throttling.py), more with an API key. The body is a
JSON array; an item that cannot be checked (a bad LEI, an unknown jurisdiction) gets ``errors`` and no verdict,
while the others are answered: only a body that is not such an array (or holds more than 1,000 items) is a 400.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from history import as_of
from opendata.api import exception_handler as api_exception_handler
from opendata.fields import (
    ActivitySerializer,
    JurisdictionRefSerializer,
    LicenseTypeSerializer,
    PartialDateField,
    PublicURLField,
    RegimeRefSerializer,
    RegulatorRefSerializer,
    SourceRefSerializer,
)
from opendata.paging import InvalidParameters
from registry.links import Links
from verification.matching import MAX_CANDIDATES
from verification.service import MAX_ITEMS, MAX_LENGTHS, Report, collector_paused, malformed, verify
from verification.throttling import APIKeyAuthentication, VerifyThrottle
from verification.verdicts import Verdict

REASON_KINDS = {
    "lei": "the LEI is the entity's",
    "domain": "the domain is the entity's website's, or one its warning notices name",
    "name": "the name, less its legal form, is the entity's legal name",
    "alias": "… is a trading or other name of the entity",
    "former_name": "… is a former name of the entity",
    "similar_name": "… is at least 90% alike one of the entity's names (never enough for a verdict alone)",
    "lei_differs": "the entity has another LEI than the one asked: its score is capped at 50",
}
# Named in settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: several serializers have a "kind".
REASON_KIND_CHOICES = list(REASON_KINDS)


# ---------------------------------------------------------------------------
# What is asked
# ---------------------------------------------------------------------------


def _text(name, help_text):
    return serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=MAX_LENGTHS[name], help_text=help_text
    )


class CounterpartySerializer(serializers.Serializer):
    """One counterparty (the schema of an item; verification/service.py ``check`` reads it)."""

    lei = _text("lei", "ISO 17442 Legal Entity Identifier; its check digits are verified.")
    name = _text("name", "Legal or trading name; legal forms (Ltd, Limited, GmbH, S.A.) and case are ignored.")
    domain = _text("domain", "Website, domain or e-mail address; compared by registrable domain (okx.com).")
    jurisdiction = _text(
        "jurisdiction", "Where the service is wanted: ISO 3166 code (FR, AE-DU) or EU, EEA. Empty: anywhere."
    )
    service = _text(
        "service", "The service wanted: a MiCA service code (a to j) or an activity's slug or name. Empty: any."
    )
    reference = _text("reference", "Your own reference for the item, returned as given.")


# ---------------------------------------------------------------------------
# The answer (documentation of the dicts :func:`report_body` builds)
# ---------------------------------------------------------------------------


class ReasonSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=REASON_KIND_CHOICES, help_text="; ".join(f"{k}: {v}" for k, v in REASON_KINDS.items())
    )
    matched = serializers.CharField(help_text="The value recorded in the register that matched.")
    detail = serializers.CharField()


class MatchedEntitySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    lei = serializers.CharField()
    website = serializers.CharField()
    jurisdiction = JurisdictionRefSerializer(allow_null=True)
    url = serializers.URLField(help_text="The entity's page on the site.")


class EvidenceSourceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    publisher = serializers.CharField()
    url = serializers.URLField(help_text="Our page for the source, with its archived text.")
    address = serializers.CharField(help_text="Where it was published, if online; may be empty.")


class EvidenceLicenseSerializer(serializers.Serializer):
    """A licence in force behind a verdict: the facts a verdict rests on, its page, its record in the API, and the
    sources cited for it (the whole record, citations and quotes included, is at ``api_url``)."""

    slug = serializers.CharField()
    url = serializers.URLField(help_text="The licence's page.")
    api_url = serializers.URLField(help_text="The licence in full, as /api/licenses/<slug>/ gives it.")
    usable = serializers.BooleanField(
        help_text="Usable in the jurisdiction asked (LicenseQuerySet.usable_in) and permitting the service asked."
    )
    regime = RegimeRefSerializer()
    license_type = LicenseTypeSerializer()
    regulator = RegulatorRefSerializer(allow_null=True)
    granted_in = JurisdictionRefSerializer(help_text="Its home jurisdiction, as on /api/licenses/.")
    passported_to = serializers.ListField(child=serializers.CharField(), help_text="Jurisdiction codes.")
    status = serializers.CharField()
    granted = PartialDateField()
    ended = PartialDateField()
    reference_number = serializers.CharField()
    activities = ActivitySerializer(many=True)
    sources = EvidenceSourceSerializer(many=True)


class WarningNoticeSerializer(serializers.Serializer):
    """A published warning notice: an authority named the entity on a warning list."""

    slug = serializers.CharField()
    url = PublicURLField(help_text="The entity's page, where the notice is shown.")
    regulator = RegulatorRefSerializer(allow_null=True)
    jurisdiction = JurisdictionRefSerializer(help_text="The authority's member state.")
    decided = PartialDateField()
    reason = serializers.CharField(help_text="The authority's reason, verbatim; may be empty.")
    websites = serializers.SerializerMethodField()
    esma_article_17_case = serializers.CharField(
        help_text="ESMA's ae_infrigment column, as published: about the national authority, not the firm."
    )
    source = SourceRefSerializer()
    locator = serializers.CharField()

    def get_websites(self, obj) -> list[str]:
        return [line for line in obj.websites.splitlines() if line]


class MatchSerializer(serializers.Serializer):
    entity = MatchedEntitySerializer()
    score = serializers.IntegerField(min_value=0, max_value=100)
    reasons = ReasonSerializer(many=True)
    licenses = EvidenceLicenseSerializer(many=True, help_text="Its licences in force on the day asked.")
    warnings = WarningNoticeSerializer(many=True, help_text="Published warning notices naming it.")


class ResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the request, from 0.")
    reference = serializers.CharField()
    input = serializers.DictField(child=serializers.CharField(), help_text="The item's fields as read.")
    verdict = serializers.ChoiceField(choices=Verdict.choices, allow_null=True, help_text="null when errors.")
    verdict_display = serializers.CharField()
    explanation = serializers.CharField()
    matches = MatchSerializer(
        many=True, help_text=f"Candidates, best first (at most {MAX_CANDIDATES}); the first carries the verdict."
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Why the item could not be checked, by field (non_field_errors: the item as a whole).",
    )


class AsOfSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="The day the register is read on: today, or the as_of day asked.")
    historical = serializers.BooleanField(help_text="True when as_of was asked: the register as it stood then.")
    data_version = serializers.IntegerField(help_text="The register's data version when answering.")
    data_changed_at = serializers.DateTimeField(help_text="When the register last changed.")


class VerifyResponseSerializer(serializers.Serializer):
    as_of = AsOfSerializer()
    count = serializers.IntegerField()
    verdicts = serializers.DictField(child=serializers.IntegerField(), help_text="How many items got each verdict.")
    results = ResultSerializer(many=True)


VerifyError = inline_serializer(
    "VerifyError",
    {
        "error": serializers.CharField(
            help_text='"invalid body", "parse error", "invalid parameter" (as_of), "not authenticated", "throttled"'
        ),
        "detail": serializers.CharField(required=False, help_text="What was wrong (all but invalid parameter)."),
        "parameters": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Invalid parameter: each bad query parameter with the reasons it was refused.",
        ),
        "items": serializers.DictField(
            child=serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
            required=False,
            help_text="Invalid body: the items that do not match the schema, by position, with each bad field.",
        ),
    },
)


def report_body(report: Report, request) -> dict:
    """The JSON answer: each licence, warning and entity built once, however many items share it."""
    body = ReportBody(report, request)
    results = [body.result(result) for result in report.results]
    counts = {verdict.value: 0 for verdict in Verdict}
    for result in report.results:
        if result.decision is not None:
            counts[result.decision.verdict] += 1
    register = report.register
    return {
        "as_of": {
            "day": register.day.isoformat(),
            "historical": register.as_of is not None,
            "data_version": register.version,
            "data_changed_at": register.changed_at.isoformat(),
        },
        "count": len(results),
        "verdicts": counts,
        "results": results,
    }


class ReportBody:
    """Builds the answer's items, keeping each licence, warning and entity it has built for the next item."""

    def __init__(self, report: Report, request):
        notices = {
            record.pk: record for result in report.results for match in result.matches for record in match.warnings
        }
        serialized = WarningNoticeSerializer(list(notices.values()), many=True, context={"request": request}).data
        self.notices = dict(zip(notices, serialized, strict=True))
        self.licences, self.entities = {}, {}
        # Every address is on this site: its origin and each page's pattern once, not a build_absolute_uri()
        # and a reverse() for each of the ~13,000 links of a thousand items.
        self.link = Links(request)

    def licence(self, record, usable):
        if record.slug not in self.licences:
            self.licences[record.slug] = licence_body(record, self.link)
        return {**self.licences[record.slug], "usable": usable}

    def entity(self, info):
        if info.pk not in self.entities:
            code_name = info.jurisdiction
            self.entities[info.pk] = {
                "slug": info.slug,
                "name": info.name,
                "kind": info.kind,
                "lei": info.lei,
                "website": info.website,
                "jurisdiction": {"code": code_name[0], "name": code_name[1]} if code_name else None,
                "url": self.link("public:entity-detail", info.slug),
            }
        return self.entities[info.pk]

    def match(self, match):
        candidate = match.candidate
        return {
            "entity": self.entity(candidate.entity),
            "score": candidate.score,
            "reasons": [{"kind": r.kind, "matched": r.matched, "detail": r.detail} for r in candidate.reasons],
            "licenses": [self.licence(record, usable) for record, usable in match.licences],
            "warnings": [self.notices[record.pk] for record in match.warnings],
        }

    def result(self, result):
        decision = result.decision
        return {
            "index": result.index,
            "reference": result.reference,
            "input": result.given,
            "verdict": decision.verdict.value if decision else None,
            "verdict_display": decision.verdict.label if decision else "Not checked",
            "explanation": decision.explanation if decision else "The item has errors.",
            "matches": [self.match(match) for match in result.matches],
            "errors": result.errors,
        }


def licence_body(record, link: Links) -> dict:
    """A licence behind a verdict (:class:`EvidenceLicenseSerializer`), built from its values for speed:
    serializing a thousand licence records took longer than the whole rest of a call."""
    regulator = record.regulator
    return {
        "slug": record.slug,
        "url": link("public:license-detail", record.slug),
        "api_url": link("public:api-license-detail", record.slug),
        "regime": {
            "slug": record.regime[0],
            "short_name": record.regime[1],
            "url": link("public:regime-detail", record.regime[0]),
        },
        "license_type": {"slug": record.license_type[0], "name": record.license_type[1]},
        "regulator": {
            "slug": regulator[0],
            "name": regulator[1],
            "abbreviation": regulator[2],
            "url": link("public:regulator-detail", regulator[0]),
        }
        if regulator
        else None,
        "granted_in": {"code": record.granted_in[0], "name": record.granted_in[1]},
        "passported_to": record.passported_to,
        "status": record.status,
        "granted": _partial(record.granted),
        "ended": _partial(record.ended),
        "reference_number": record.reference_number,
        "activities": [{"slug": slug, "name": name, "code": code} for _, slug, name, code in record.activities],
        "sources": [
            {
                "slug": slug,
                "title": title,
                "publisher": publisher,
                "url": link("public:source-detail", slug),
                "address": address,
            }
            for slug, (title, publisher, address) in record.sources.items()
        ],
    }


def _partial(value):
    return None if value is None else {"value": value.isoformat(), "precision": value.precision, "display": str(value)}


def read_as_of(query_params):
    """The ``as_of`` day asked, None for today; a 400 naming ``as_of`` when it is not a day."""
    raw = query_params.get("as_of", "")
    day = as_of.parse_as_of(query_params)
    if raw and day is None:
        raise InvalidParameters({"as_of": ["Enter a valid date, as YYYY-MM-DD."]})
    return day


EXAMPLE_REQUEST = [
    {"name": "OKX Europe Ltd", "jurisdiction": "FR", "service": "a", "reference": "crm-1042"},
    {"lei": "5299005V5GBSN2A4C303"},
    {"domain": "https://www.okx.com/"},
    {"name": "Unknown Trading Ltd", "domain": "unknown-trading.example"},
]


@extend_schema(
    summary="Verify counterparties: authorised, where, for what, on a warning list?",
    description=(
        f"Up to {MAX_ITEMS} counterparties per call, each with any of an LEI, a name and a website domain, and "
        "optionally the jurisdiction and the service wanted. Each gets a verdict (authorised, "
        "authorised_elsewhere, warning_listed, not_listed, ambiguous), the entities it matched with reasons "
        "and a score, and the licences in force and warning notices behind the verdict, each with its URL and "
        "sources. An item that cannot be checked (an LEI whose check digits fail, an unknown jurisdiction or "
        "service, no LEI, name or domain) gets `errors` and a null verdict, in a 200 answer; a 400 means the "
        "body itself is not a JSON array of 1 to 1,000 items, or `as_of` is not a date. Rate limited per "
        "address (429 with Retry-After); an API key (`Authorization: Bearer <key>`, issued by the register's "
        "staff) raises the limit. See the [API guide](/about/api/)."
    ),
    parameters=[
        OpenApiParameter(
            "as_of",
            # Empty means today, as an empty filter means none on the other endpoints.
            {"type": "string", "pattern": r"^(\d{4}-\d{1,2}-\d{1,2})?$"},
            description="Answer from the register as it stood at the end of this day (YYYY-MM-DD); empty: today.",
        )
    ],
    request=CounterpartySerializer(many=True),
    responses={
        200: VerifyResponseSerializer,
        400: OpenApiResponse(
            VerifyError,
            description="The body is not a JSON array of 1 to 1,000 objects (items' own errors are in the 200 answer).",
        ),
        401: OpenApiResponse(VerifyError, description="An unknown or revoked API key."),
        429: OpenApiResponse(VerifyError, description="Too many requests: wait Retry-After seconds."),
    },
    examples=[OpenApiExample("Four counterparties", value=EXAMPLE_REQUEST, request_only=True)],
    tags=["verify"],
)
class VerifyView(APIView):
    # Takes a question by POST and writes nothing (operations/security.accepts_public_post_at).
    accepts_public_post = True
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return exception_handler

    authentication_classes = [APIKeyAuthentication]
    throttle_classes = [VerifyThrottle]

    def post(self, request):
        day = read_as_of(request.query_params)
        items = request.data
        if not isinstance(items, list) or not items:
            raise InvalidBody('The body is a JSON array of counterparties: [{"name": …, "lei": …}, …].')
        if len(items) > MAX_ITEMS:
            raise InvalidBody(f"At most {MAX_ITEMS} counterparties per request; this one has {len(items)}.")
        broken = {n: errors for n, item in enumerate(items) if (errors := malformed(item))}
        if broken:
            first, errors = next(iter(broken.items()))
            name, messages = next(iter(errors.items()))
            detail = f"{len(broken)} item(s) do not match the schema; item {first}, {name}: {messages[0]}"
            raise InvalidBody(detail, items=broken)
        return Response(report_body(verify(items, day), request))

    def dispatch(self, request, *args, **kwargs):
        # The answer is built, rendered and let go with the garbage collector paused (collector_paused): were it
        # alive when the collector resumes, the collection the call's allocations have by then earned would walk
        # its ~500,000 objects, and move them to an older generation for the next full collections to walk.
        with collector_paused():
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, Response) and response.status_code == 200:
                response.render()
                response.data = None  # the rendered bytes are the answer now
        return response


class InvalidBody(exceptions.APIException):
    """A 400 for the body as a whole; ``items`` names the items that break the schema, by position."""

    status_code = 400
    default_code = "invalid_body"

    def __init__(self, detail, items=None):
        super().__init__(detail)
        self.items = items


def exception_handler(exc, context):
    """The API's handler (``{"error", "detail"}``), with the broken items of an invalid body."""
    response = api_exception_handler(exc, context)
    if isinstance(exc, InvalidBody) and exc.items and response is not None:
        response.data["items"] = {str(n): errors for n, errors in exc.items.items()}
    return response
