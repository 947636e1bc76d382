"""Finding a counterparty among the register's entities: by LEI, by website domain, by name.

Pure functions over an :class:`Index` of what the register holds (verification/register.py builds it from the
database, today or as it stood on a day). Nothing here queries the database.

* **LEI**: exact (the caller has checked its ISO 17442 check digits).
* **Domain**: the registrable domain (``www.okx.com/en`` and ``okx.com`` are ``okx.com``; ``foo.github.io`` stays
  ``foo.github.io``), read with tldextract from the Public Suffix List snapshot it ships with: no network, ever.
  An entity's website and the websites its published warning notices name both count.
* **Name**: a key made of the name's words, accents and case folded, with one legal form dropped from the end and
  one from the start (cleanco's table of legal forms: "OKX Europe Ltd" = "OKX Europe Limited", "UAB Foo" = "Foo").
  The legal name, trading and other names, former names (an alias of that kind, or a name the entity was
  published under before) all count. Failing an exact key, names at least :data:`SIMILARITY_CUTOFF` % alike
  (rapidfuzz) are candidates of low score: never enough for a verdict on their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

import tldextract
from cleanco.clean import prepare_default_terms
from rapidfuzz import fuzz, process

from registry.links import detail_path

# Scores of each kind of reason, out of 100. One candidate's reasons combine as independent evidence
# (:func:`combine`), so a name and a domain together outrank a domain alone.
SCORES = {"lei": 100, "domain": 90, "name": 85, "alias": 80, "former_name": 80}
# A name this similar (rapidfuzz ratio, 0-100) to a recorded one makes a candidate, scored 0.7 x similarity.
SIMILARITY_CUTOFF = 90
SIMILAR_WEIGHT = 0.7
# A candidate whose recorded LEI differs from the one asked for is another legal person, whatever its name.
CONTRADICTED_CAP = 50
MAX_CANDIDATES = 10
# Fuzzy matching compares a name only with those sharing a word, or its first three characters, and skips words
# so common (crypto, capital) that comparing with every name holding them would cost more than it tells.
COMMON_WORD = 2000

# cleanco's legal forms, as token tuples, less two that are as often part of a firm's name ("Bybit EU GmbH").
_NOT_LEGAL_FORMS = {("eu",), ("uk",)}
LEGAL_FORMS = frozenset(tuple(parts) for _, parts in prepare_default_terms()) - _NOT_LEGAL_FORMS
_LONGEST_FORM = max(len(form) for form in LEGAL_FORMS)

# Dots, commas, hyphens and apostrophes join (S.A. is "sa", as cleanco writes its forms); other marks separate.
_JOINING = str.maketrans("", "", ".,-'’")
_WORD = re.compile(r"[\w/]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)

# The Public Suffix List as the installed tldextract release ships it: never fetched, never cached to disk.
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def name_words(name: str) -> list[str]:
    """The words of ``name``: accents and case folded, punctuation dropped."""
    text = name.casefold().replace("&", " and ")
    if not text.isascii():  # ASCII has no accent to fold: most names skip the walk over each character
        text = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in text if not unicodedata.combining(char))
    return _WORD.findall(text.translate(_JOINING))


def _drop_form(words: list[str], at_end: bool) -> list[str]:
    for size in range(min(_LONGEST_FORM, len(words) - 1), 0, -1):
        part = tuple(words[-size:] if at_end else words[:size])
        if part in LEGAL_FORMS:
            return words[:-size] if at_end else words[size:]
    return words


def name_key(name: str) -> str:
    """The key names are compared by: ``"OKX Europe Ltd."`` and ``"okx europe limited"`` are ``"okx europe"``.

    One legal form goes from the end, then one from the start; a name that is nothing but a legal form keeps it.
    """
    words = _drop_form(_drop_form(name_words(name), at_end=True), at_end=False)
    return " ".join(words)


def registrable_domain(value: str) -> str:
    """The registrable domain of a web address, host name or e-mail address, lower case, IDNA-encoded;
    empty when it has none (``localhost``, an IP address, ``not a domain``).

    Under a top-level domain newer than the bundled suffix list, the host name less ``www.`` (``shop.newtld``).
    """
    text = value.strip().rsplit("@", 1)[-1] if "://" not in value else value.strip()
    parts = _extract(text)
    if parts.suffix and parts.domain:
        domain = f"{parts.domain}.{parts.suffix}".lower()
    else:
        labels = [label for label in (*parts.subdomain.split("."), parts.domain) if label]
        if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
            return ""
        # Where the registrable part is unknown, the whole host name (less www.) stands for it: two sites
        # are never taken for one.
        domain = ".".join(labels[1:] if labels[0] == "www" and len(labels) > 2 else labels).lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """What a match shows of an entity (its page is at ``/entities/<slug>/``)."""

    pk: int
    slug: str
    name: str
    kind: str
    lei: str
    website: str
    jurisdiction: tuple[str, str] | None  # (code, name)

    def get_absolute_url(self):
        return detail_path("public:entity-detail", self.slug)


@dataclass(frozen=True)
class Reason:
    """Why an entity is a candidate: ``kind`` (lei, domain, name, alias, former_name, similar_name,
    lei_differs), the value recorded in the register that matched, and a sentence saying so."""

    kind: str
    matched: str
    detail: str
    score: float


@dataclass
class Candidate:
    entity: EntityInfo
    reasons: list[Reason] = field(default_factory=list)
    score: int = 0


@dataclass
class Index:
    """The register's entities, looked up by LEI, registrable domain and name key."""

    entities: dict[int, EntityInfo]
    by_lei: dict[str, int]
    by_domain: dict[str, tuple[tuple[int, str], ...]]  # domain: ((entity, where it is recorded), ...)
    by_key: dict[str, tuple[tuple[int, str, str], ...]]  # name key: ((entity, reason kind, the name as recorded), ...)
    keys: list[str] = field(default_factory=list)
    postings: dict[str, tuple[int, ...]] = field(default_factory=dict)  # a word or a first-three: indexes into keys

    @classmethod
    def build(cls, entities, names, websites) -> Index:
        """``entities``: :class:`EntityInfo`; ``names``: ``(entity pk, reason kind, name)``; ``websites``:
        ``(entity pk, address, where)``: addresses of entities or named by their warnings."""
        entities = {info.pk: info for info in entities}
        by_lei = {info.lei: info.pk for info in entities.values() if info.lei}
        by_domain = defaultdict(list)
        for pk, address, where in websites:
            if pk in entities and (domain := registrable_domain(address)) and (pk, where) not in by_domain[domain]:
                by_domain[domain].append((pk, where))
        by_key = defaultdict(list)
        for info in entities.values():
            by_key[name_key(info.name)].append((info.pk, "name", info.name))
        for pk, kind, name in names:
            if pk in entities and (key := name_key(name)):
                by_key[key].append((pk, kind, name))
        # Tuples, not lists (and slotted EntityInfo): the garbage collector stops tracking a tuple of numbers and
        # text, so the index each worker keeps adds ~40,000 fewer objects to every full collection's walk.
        index = cls(entities=entities, by_lei=by_lei, by_domain=_frozen(by_domain), by_key=_frozen(by_key))
        index.keys = [key for key in index.by_key if key]
        postings = defaultdict(list)
        for position, key in enumerate(index.keys):
            for token in {*key.split(), key[:3]}:
                postings[token].append(position)
        index.postings = _frozen(postings)
        return index

    def similar_keys(self, key: str) -> list[tuple[str, float]]:
        """Recorded name keys at least :data:`SIMILARITY_CUTOFF` alike ``key``, with their similarity."""
        lists = [self.postings.get(token, ()) for token in {*key.split(), key[:3]}]
        positions = set().union(*(found for found in lists if len(found) <= COMMON_WORD))
        choices = {position: self.keys[position] for position in positions}
        found = process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=SIMILARITY_CUTOFF, limit=MAX_CANDIDATES)
        return [(choice, similarity) for choice, similarity, _ in found if choice != key]


def _frozen(lists: dict[str, list]) -> dict[str, tuple]:
    return {key: tuple(values) for key, values in lists.items()}


@dataclass(frozen=True)
class Query:
    """One counterparty asked about, validated: an LEI, a name, a domain (any of them)."""

    lei: str = ""
    name: str = ""
    domain: str = ""


NAME_REASONS = {
    "name": "legal name {}",
    "alias": "also known as {}",
    "former_name": "formerly named {}",
}


def candidates(index: Index, query: Query) -> list[Candidate]:
    """The entities that may be ``query``, best first (at most :data:`MAX_CANDIDATES`)."""
    found: dict[int, Candidate] = {}

    def add(pk, reason):
        found.setdefault(pk, Candidate(index.entities[pk])).reasons.append(reason)

    if query.lei and (pk := index.by_lei.get(query.lei)) is not None:
        add(pk, Reason("lei", query.lei, f"LEI {query.lei}", SCORES["lei"]))
    # A domain or name shared by more entities than are listed (a hosting platform) yields the first few.
    if query.domain:
        for pk, where in index.by_domain.get(query.domain, ())[:MAX_CANDIDATES]:
            add(pk, Reason("domain", query.domain, f"{query.domain}: {where}", SCORES["domain"]))
    if query.name and (key := name_key(query.name)):
        exact = index.by_key.get(key, ())[:MAX_CANDIDATES]
        for pk, kind, name in exact:
            add(pk, Reason(kind, name, NAME_REASONS[kind].format(name), SCORES[kind]))
        if not exact:
            for other, similarity in index.similar_keys(key):
                for pk, kind, name in index.by_key[other][:MAX_CANDIDATES]:
                    detail = f"{NAME_REASONS[kind].format(name)}, {similarity:.0f}% alike"
                    add(pk, Reason("similar_name", name, detail, round(SIMILAR_WEIGHT * similarity, 1)))
    for candidate in found.values():
        candidate.score = combine(candidate.reasons)
        if query.lei and candidate.entity.lei and candidate.entity.lei != query.lei:
            detail = f"its LEI is {candidate.entity.lei}, not {query.lei}"
            candidate.reasons.append(Reason("lei_differs", candidate.entity.lei, detail, 0))
            candidate.score = min(candidate.score, CONTRADICTED_CAP)
    ranked = sorted(found.values(), key=lambda c: (-c.score, c.entity.name, c.entity.slug))
    return ranked[:MAX_CANDIDATES]


def combine(reasons: list[Reason]) -> int:
    """Independent evidence: the best reason of each kind of identifier (LEI, domain, name), combined as
    ``1 - (1 - a)(1 - b)...``, out of 100. A name and a domain (85, 90) give 98; an LEI always 100."""
    best: dict[str, float] = {}
    for reason in reasons:
        signal = reason.kind if reason.kind in ("lei", "domain") else "name"
        best[signal] = max(best.get(signal, 0), reason.score)
    doubt = 1.0
    for score in best.values():
        doubt *= 1 - score / 100
    return round(100 * (1 - doubt))
