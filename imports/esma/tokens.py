"""Importing ESMA's white papers: other crypto-assets (Title II), e-money tokens (Title IV), asset-referenced
tokens (Title III). A white paper per row, on its offeror or issuer (and the CASP that filed it, if any); a
crypto-asset per functionally fungible group (FFG) or set of DTIs the rows give.

ESMA gives a white paper no identifier. One is recognised across snapshots by ``official_register_key``:
``esma-<kind>:<party>:<document>``, digests of who lists it (home state, offeror, filing CASP, FFG) and of
the document (its address, its notification date). A later snapshot that changes the address of the only
paper of a party that it no longer lists otherwise is read as that paper's new address, not as a new paper.
Papers missing from a later snapshot are "no longer listed as of" its date, never deleted.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict

from django.core.exceptions import ValidationError

from registry.models import CryptoAsset, EntityCitation, Source, TokenKind, WhitePaper, WhitePaperCitation

from .base import BaseImporter
from .match import propose_matches
from .parse import (
    EEA,
    PUBLISHER,
    _url_validator,
    cite,
    clean_text,
    flag,
    name_key,
    normalise_country,
    normalise_lei,
    parse_authority,
    parse_date,
    replacement_flags,
    split_list,
)
from .write import Changes, set_m2m, unique_slug

TITLES = {
    TokenKind.OTHER: "ESMA interim MiCA register: white papers for other crypto-assets",
    TokenKind.EMT: "ESMA interim MiCA register: e-money token issuers",
    TokenKind.ART: "ESMA interim MiCA register: asset-referenced token issuers",
}
# What ESMA writes where it names no offeror.
NO_NAME = {"", "not available", "n/a", "none"}
# ISO 24165: nine characters, digits and consonants (no vowels, no Y).
_DTI = re.compile(r"^[0-9B-DF-HJ-NP-TV-XZ]{9}$")
# ESMA separates DTIs with "|", and sometimes with " I " (a capital i).
_DTI_SEPARATOR = re.compile(r"\s*(?:\||,|;|\sI\s)\s*")
_FILE_NAME = re.compile(r"^[^/\s]+\.(?:pdf|html?|xhtml|docx?)$", re.IGNORECASE)
PAPER_SETS = ("host_states",)


def digest(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:16]


def parse_codes(value: str | None, label: str) -> tuple[list[str], list[dict]]:
    """ISO 24165 codes (DTIs or an FFG) from a list cell, upper case, without repeats; others flagged, not kept."""
    text = clean_text(value)
    codes, flags = [], []
    for item in (part for part in _DTI_SEPARATOR.split(text) if part):
        code = item.upper()
        if not _DTI.match(code):
            flags.append(flag("dti_invalid", f"The {label} “{item}” is not an ISO 24165 code (9 characters)."))
        elif code not in codes:
            codes.append(code)
    if text and re.search(r"\sI\s", text):
        flags.append(flag("dti_separator", f"The {label}s are separated by “I” rather than “|”: “{text}”."))
    return codes, flags


def parse_address(value: str | None) -> tuple[str, str, list[dict]]:
    """(web address, text published instead of one, flags) of a white paper's ``wp_url``."""
    text = clean_text(value)
    if not text:
        return "", "", [flag("url_missing", "The register gives no address for the white paper.")]
    if text.upper() == "EMT_NO_WP":
        return "", text, [flag("no_white_paper", "The register lists EMT_NO_WP in place of the white paper's address.")]
    candidate = text if "://" in text else f"https://{text}"
    flags = []
    if "://" not in text and not _FILE_NAME.match(text) and " " not in text:
        flags.append(flag("url_scheme_assumed", f"The address was published as “{text}”; read as {candidate}."))
    try:
        if _FILE_NAME.match(text) or " " in text:
            raise ValidationError("not an address")
        _url_validator(candidate)
    except ValidationError:
        return (
            "",
            text[:1000],
            [flag("url_invalid", f"The address as published (“{text[:200]}”) is not a web address.")],
        )
    return candidate[:1000], "", flags


def parse_yes_no(value: str | None, label: str) -> tuple[bool | None, list[dict]]:
    text = clean_text(value).casefold()
    if text in ("yes", "y", "true"):
        return True, []
    if text in ("no", "n", "false"):
        return False, []
    if not text:
        return None, []
    return None, [flag("yes_no_unreadable", f"The {label} as published (“{clean_text(value)}”) is not Yes or No.")]


def parse_host_states(value: str | None, known) -> tuple[list[str], list[dict]]:
    """Host member states as EEA country codes; any other code is flagged and not recorded."""
    codes, flags = [], []
    for item in split_list(value):
        code = normalise_country(item)
        if code in EEA and code in known:
            codes.append(code)
        else:
            flags.append(flag("unknown_country", f"“{item}” is not an EEA member state; not recorded as a host state."))
    return sorted(set(codes)), flags


def _party(name: str, lei_cell: str | None, country: str, known, role: str) -> tuple[dict | None, list[dict]]:
    """The entity a row names as offeror/issuer or filing CASP, as :meth:`BaseImporter._write_entities` takes it."""
    if name_key(name) in NO_NAME:
        return None, []
    lei, lei_as_published, flags = normalise_lei(lei_cell)
    flags = [{**f, "message": f"{role}: {f['message']}"} for f in flags]
    jurisdiction = country if country in known else ""
    return {
        "key": lei or f"{jurisdiction}:{name_key(name)}",
        "name": name[:300],
        "home": country,
        "jurisdiction": jurisdiction,
        "lei": lei,
        "lei_as_published": lei_as_published[:100],
        "website": "",
        "address": "",
        "aliases": [],
        "flags": flags,
    }, flags


class _TokensAndCitations:
    """What a white-paper import writes besides the papers: the crypto-assets, and the citations of the row."""

    # -- crypto-assets --------------------------------------------------------------

    def _write_tokens(self, parsed) -> dict[str, CryptoAsset]:
        """The crypto-assets the rows identify (by FFG, else by their DTIs), created or given new DTIs."""
        wanted = {}
        for p in parsed:
            if not (p["ffg"] or p["dtis"]):
                continue
            key = f"esma-token:ffg:{p['ffg']}" if p["ffg"] else f"esma-token:dti:{'|'.join(sorted(p['dtis']))}"
            p["token_key"] = key[:200]
            entry = wanted.setdefault(p["token_key"], {"ffg": p["ffg"], "dtis": []})
            entry["dtis"] += [d for d in p["dtis"] if d not in entry["dtis"]]
        existing = {t.official_register_key: t for t in CryptoAsset.objects.filter(official_register_key__in=wanted)}
        taken = set(CryptoAsset.objects.filter(slug__startswith="token-").values_list("slug", flat=True))
        new, changes = [], Changes(self.writer, CryptoAsset)
        for key, w in wanted.items():
            token = existing.get(key)
            if token is None:
                code = w["ffg"] or w["dtis"][0]
                token = self.writer.prepare_new(
                    CryptoAsset(
                        slug=unique_slug(f"token-{code}", taken, 150),
                        kind=self.kind,
                        ffg=w["ffg"],
                        dtis="\n".join(w["dtis"]),
                        official_register_key=key,
                    )
                )
                new.append(token)
            else:
                # DTIs are added, never removed: a form of the token an earlier snapshot listed stays true.
                dtis = "\n".join([*token.dti_list, *(d for d in w["dtis"] if d not in token.dti_list)])
                changes.add(token, {"dtis": dtis} if dtis != token.dtis else {})
            existing[key] = token
        self.writer.create(CryptoAsset, new)
        self.writer.write_changes(changes)
        self._propose(CryptoAsset, changes.proposed)
        return existing

    # -- citations ------------------------------------------------------------------

    def _write_citations(self, parsed, deferred):
        """Each paper's facts cite this snapshot's row; papers in ``deferred`` through their revision."""
        wanted = {}
        for p in parsed:
            row = p["row"]
            facts = {"": cite(row, "wp_url", states=""), "url": cite(row, "wp_url")}
            facts[""]["quote"] = f"Listed in {self.snapshot.name}, row {row['_row']}."
            optional = {
                "offeror": "ae_lei_name",
                "filed_by": "ae_lei_name_casp",
                "regulator": "ae_competentAuthority",
                "host_states": self.host_column,
                "crypto_asset": "ae_DTI_FFG" if clean_text(row.get("ae_DTI_FFG")) else "ae_DTI",
                "listed_on": "wp_lastupdate",
                "notified_on": "wp_authorisationNotificationDate",
            }
            for supports, column in optional.items():
                if column and clean_text(row.get(column)):
                    facts[supports] = cite(row, column)
            wanted[p["paper"].pk] = facts
        return self._cite(WhitePaperCitation, "white_paper", wanted, deferred)

    def _write_entity_citations(self, parsed, entities):
        wanted = {}
        for p in parsed:
            for party, name_column, lei_column in (
                (p["offeror"], "ae_lei_name", "ae_lei"),
                (p["casp"], "ae_lei_name_casp", "ae_lei_casp"),
            ):
                if party is None or entities[party["key"]].pk in wanted:
                    continue
                facts = {"name": cite(p["row"], name_column)}
                if clean_text(p["row"].get(lei_column)):
                    facts["lei"] = cite(p["row"], lei_column)
                wanted[entities[party["key"]].pk] = facts
        self._cite(EntityCitation, "entity", wanted)


class TokenImporter(_TokensAndCitations, BaseImporter):
    """One ESMA white-paper file (:attr:`kind`): its white papers, their crypto-assets, offerors and CASPs."""

    kind = ""
    date_column = "wp_lastupdate"
    host_column = ""
    required = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_lei", "wp_url")

    def __init__(self, *args, **kwargs):
        self.title = TITLES[self.kind]
        self.slug_prefix = f"esma-mica-{self.kind}-"
        super().__init__(*args, **kwargs)

    def _run(self):
        self._setup()
        known = set(self.jurisdictions)
        parsed = self._deduplicated(self._same_parties([self._parse(row, known) for row in self.snapshot.rows]))
        regulators = self._regulators({(p["home"], p["authority"][2]): p["authority"][:2] for p in parsed})
        wanted = {w["key"]: w for p in parsed for w in (p["offeror"], p["casp"]) if w}
        entities = self._write_entities(list(wanted.values())) if wanted else {}
        self._write_entity_citations(parsed, entities)
        tokens = self._write_tokens(parsed)
        outcome, proposals, m2m_proposed = self._write_papers(parsed, entities, regulators, tokens)
        inline = self._write_citations(parsed, deferred={paper.pk for paper, _ in proposals})
        self._propose(WhitePaper, proposals, m2m_of=m2m_proposed, citations_of=inline)
        self._mark_not_listed({p["key"] for p in parsed})
        offered = [{**p, "entity": p["offeror"]} for p in parsed if p["offeror"]]
        self.counts.matches += propose_matches(
            offered, entities, license_type=None, jurisdictions=self.jurisdictions, source=self.source, author=self.user
        )
        for p in parsed:
            state = outcome.get(p["key"], "unchanged")
            self.counts.add_row(p["row"], state, p["label"], p["flags"])

    # -- rows -----------------------------------------------------------------------

    def _parse(self, row, known) -> dict:
        home = normalise_country(row.get("ae_homeMemberState"))
        flags = []
        if home not in known:
            stated = clean_text(row.get("ae_homeMemberState"))
            flags.append(flag("unknown_country", f"Home member state “{stated}” is not a known country code."))
        country = normalise_country(row.get("ae_lei_cou_code"))
        offeror, offeror_flags = _party(
            clean_text(row.get("ae_lei_name")), row.get("ae_lei"), country, known, "Offeror"
        )
        if offeror is None:
            flags.append(flag("offeror_not_named", "The register names no offeror or issuer for this white paper."))
        casp, casp_flags = _party(clean_text(row.get("ae_lei_name_casp")), row.get("ae_lei_casp"), "", known, "CASP")
        dtis, dti_flags = parse_codes(row.get("ae_DTI"), "DTI")
        ffg, ffg_flags = parse_codes(row.get("ae_DTI_FFG"), "FFG code")
        url, url_as_published, url_flags = parse_address(row.get("wp_url"))
        hosts, host_flags = parse_host_states(row.get(self.host_column), known)
        listed, listed_flags = parse_date(row.get("wp_lastupdate"), "date of the last update")
        notified, notified_flags = parse_date(row.get("wp_authorisationNotificationDate"), "notification date")
        flags += offeror_flags + casp_flags + dti_flags + ffg_flags + url_flags + host_flags + listed_flags
        flags += notified_flags + replacement_flags(
            {"offeror's name": row.get("ae_lei_name"), "CASP's name": row.get("ae_lei_name_casp")}
        )
        if len(ffg) > 1:
            flags.append(flag("ffg_several", f"Several FFG codes are listed ({', '.join(ffg)}); the first is used."))
        if any(clean_text(cell) for cell in row["_extra"]):
            flags.append(flag("extra_columns", "The row has more cells than the header; the extra ones were ignored."))
        parsed = {
            "row": row,
            "flags": flags,
            "home": home,
            "authority": parse_authority(row.get("ae_competentAuthority")),
            "offeror": offeror,
            "casp": casp,
            "dtis": dtis,
            "ffg": ffg[0] if ffg else "",
            "url": url,
            "url_as_published": url_as_published,
            "hosts": hosts,
            "listed": listed,
            "notified": notified,
            "extra": self._extra_values(row, flags),
        }
        parsed["label"] = (offeror or casp or {}).get("name") or url or url_as_published or f"row {row['_row']}"
        return parsed

    def _extra_values(self, row, flags) -> dict:
        """The file's own columns beyond the white paper's (the issuer's authorisation: EMTs and ARTs)."""
        return {}

    @staticmethod
    def _same_parties(parsed) -> list[dict]:
        """A party named without an LEI in one row and with one in another (same name, same country) is the
        same firm: one entity, not a second one that a later import could confuse with it."""
        with_lei = {}
        for p in parsed:
            for role in ("offeror", "casp"):
                if (w := p[role]) and w["lei"]:
                    with_lei.setdefault((w["jurisdiction"], name_key(w["name"])), w)
        for p in parsed:
            for role in ("offeror", "casp"):
                if (w := p[role]) and not w["lei"] and not w["lei_as_published"]:
                    p[role] = with_lei.get((w["jurisdiction"], name_key(w["name"])), w)
        return parsed

    def _deduplicated(self, parsed) -> list[dict]:
        """Each row's ``key``; a row repeating another cell for cell is the same white paper, listed once."""
        seen, kept, ordinal = {}, [], defaultdict(int)
        for p in parsed:
            cells = tuple(sorted((k, clean_text(v)) for k, v in p["row"].items() if not k.startswith("_")))
            if (first := seen.get(cells)) is not None:
                # No row number in the message: a row's number changes whenever an earlier row is removed.
                message = "The register lists this white paper more than once, cell for cell."
                if not any(f["code"] == "listed_twice" for f in first["flags"]):
                    first["flags"].append(flag("listed_twice", message))
                self.counts.add_row(p["row"], "unchanged", p["label"], p["flags"])
                continue
            seen[cells] = p
            who = [(w or {}).get("key", "") for w in (p["offeror"], p["casp"])]
            party = digest(p["home"], *who, p["ffg"] or " ".join(p["dtis"]))
            document = (p["url"] or p["url_as_published"], p["notified"].isoformat() if p["notified"] else "")
            ordinal[(party, document)] += 1
            n = ordinal[(party, document)]
            p["key"] = f"esma-{self.kind}:{party}:{digest(*document, n if n > 1 else '')}"
            kept.append(p)
        return kept

    def _entity_changes(self, entity, w) -> dict:
        """As for any ESMA file, but the flags are added to the entity's, never removed: another file (the CASP
        register) may have flagged it for what this file does not list."""
        changes = super()._entity_changes(entity, w)
        if "quality_flags" in changes:
            added = [f for f in w["flags"] if f not in entity.quality_flags]
            if added:
                changes["quality_flags"] = [*entity.quality_flags, *added]
            else:
                del changes["quality_flags"]
        return changes

    # -- white papers ---------------------------------------------------------------

    def _existing_papers(self, keys) -> dict[str, WhitePaper]:
        """This file's papers by key; a paper of a party whose one unmatched paper changed address, by its new key."""
        papers = WhitePaper.objects.filter(official_register_key__startswith=f"esma-{self.kind}:").prefetch_related(
            *PAPER_SETS
        )
        existing = {paper.official_register_key: paper for paper in papers}
        gone, arrived = defaultdict(list), defaultdict(list)
        for key, paper in existing.items():
            if key not in keys:
                gone[key.split(":")[1]].append(paper)
        for key in keys:
            if key not in existing:
                arrived[key.split(":")[1]].append(key)
        found = {key: paper for key, paper in existing.items() if key in keys}
        for party, new_keys in arrived.items():
            if len(new_keys) == 1 and len(gone.get(party, [])) == 1:
                found[new_keys[0]] = gone[party][0]
        return found

    def _write_papers(self, parsed, entities, regulators, tokens):
        existing = self._existing_papers({p["key"] for p in parsed})
        taken = set(WhitePaper.objects.values_list("slug", flat=True))
        new, m2m_new, outcome = [], {}, {}
        changes, m2m_direct, m2m_proposed, confirmed = Changes(self.writer, WhitePaper), {}, {}, []
        started = time.monotonic()
        for done, p in enumerate(parsed, start=1):
            values = self._paper_values(p, entities, regulators, tokens)
            hosts = sorted(self.jurisdictions[c].pk for c in p["hosts"])
            paper = existing.get(p["key"])
            if paper is None:
                party = p["offeror"] or p["casp"]
                who = entities[party["key"]].slug if party else self.kind
                what = p["ffg"] or (p["dtis"][0] if p["dtis"] else "white-paper")
                paper = self.writer.prepare_new(
                    WhitePaper(
                        slug=unique_slug(f"{who[:100]}-{what}", taken, 150),
                        kind=self.kind,
                        last_verified_on=self.snapshot.date,
                        **values,
                    )
                )
                new.append(paper)
                m2m_new[p["key"]] = {"host_states": hosts}
                outcome[p["key"]] = "created"
            else:
                fields = {k: v for k, v in values.items() if getattr(paper, k) != v}
                m2m = {"host_states": hosts} if sorted(j.pk for j in paper.host_states.all()) != hosts else {}
                verified = {}
                if paper.last_verified_on is None or paper.last_verified_on < self.snapshot.date:
                    verified = {"last_verified_on": self.snapshot.date}
                route = changes.add(paper, fields, also=bool(m2m), along=verified)
                if route == "direct":
                    m2m_direct[paper.pk] = m2m
                elif route == "propose":
                    m2m_proposed[paper.pk] = m2m
                elif verified:
                    confirmed.append(paper)
                outcome[p["key"]] = "updated" if route else "unchanged"
            p["paper"] = paper
            self.progress(done, len(parsed), started)
        self.writer.create(WhitePaper, new, m2m_of=lambda paper: m2m_new[paper.official_register_key])
        set_m2m(WhitePaper, "host_states", {pk: m["host_states"] for pk, m in m2m_direct.items() if m})
        self.writer.write_changes(changes, m2m_fields=PAPER_SETS)
        self.writer.confirm_verified(WhitePaper, confirmed, self.snapshot.date)
        return outcome, changes.proposed, m2m_proposed

    def _paper_values(self, p, entities, regulators, tokens) -> dict:
        regulator = regulators.get((p["home"], p["authority"][2]))
        jurisdiction = self.jurisdictions.get(p["home"])
        token = tokens.get(p.get("token_key"))
        listed, notified = p["listed"], p["notified"]
        return {
            "official_register_key": p["key"],
            "crypto_asset_id": token.pk if token else None,
            "offeror_id": entities[p["offeror"]["key"]].pk if p["offeror"] else None,
            "filed_by_id": entities[p["casp"]["key"]].pk if p["casp"] else None,
            "regulator_id": regulator.pk if regulator else None,
            "jurisdiction_id": jurisdiction.pk if jurisdiction else None,
            "url": p["url"],
            "url_as_published": p["url_as_published"],
            "listed_on": listed.date if listed else None,
            "listed_on_precision": listed.precision if listed else "",
            "notified_on": notified.date if notified else None,
            "notified_on_precision": notified.precision if notified else "",
            "comments": (p["row"].get("wp_comments") or "").strip(),
            "quality_flags": p["flags"],
            "not_listed_since": None,
            **p["extra"],
        }

    # -- papers no longer listed ----------------------------------------------------

    def _mark_not_listed(self, keys):
        later = Source.objects.filter(
            publisher=PUBLISHER, title__startswith=self.title, published_on__gt=self.snapshot.date
        )
        if later.exists():
            return
        gone = WhitePaper.objects.filter(
            official_register_key__startswith=f"esma-{self.kind}:", not_listed_since__isnull=True
        ).exclude(official_register_key__in=keys)
        changes = Changes(self.writer, WhitePaper)
        for paper in gone:
            changes.add(paper, {"not_listed_since": self.snapshot.date})
        self.writer.write_changes(changes)
        self._propose(WhitePaper, changes.proposed)
        self.counts.not_listed = len(changes.direct) + len(changes.proposed)


class OtherImporter(TokenImporter):
    """``OTHER<date>.csv``: white papers for crypto-assets other than ARTs and EMTs (MiCA Title II)."""

    kind = TokenKind.OTHER
    host_column = "ae_offerCode_cou"


class EmtImporter(TokenImporter):
    """``EMT<date>.csv``: e-money token issuers and their white papers (MiCA Title IV)."""

    kind = TokenKind.EMT
    host_column = ""
    required = (*TokenImporter.required, "wp_authorisationNotificationDate")

    def _extra_values(self, row, flags) -> dict:
        authorised, authorised_flags = parse_date(row.get("ac_authorisationNotificationDate"), "authorisation date")
        ended, ended_flags = parse_date(row.get("ac_authorisationEndDate"), "authorisation end date")
        values = {
            "issuer_authorisation": clean_text(row.get("ae_authorisation_other_emt"))[:200],
            "issuer_authorised_on": authorised.date if authorised else None,
            "issuer_authorised_on_precision": authorised.precision if authorised else "",
            "issuer_authorisation_ended_on": ended.date if ended else None,
            "issuer_authorisation_ended_on_precision": ended.precision if ended else "",
        }
        flags += authorised_flags + ended_flags
        for column, field in (("ae_exemption48_4", "exemption_48_4"), ("ae_exemption48_5", "exemption_48_5")):
            values[field], yes_no_flags = parse_yes_no(row.get(column), column)
            flags += yes_no_flags
        return values


class ArtImporter(EmtImporter):
    """``ART<date>.csv``: asset-referenced token issuers and their white papers (MiCA Title III)."""

    kind = TokenKind.ART
    host_column = "wp_url_cou"
    required = (*TokenImporter.required[:3], "ae_lei", "wp_url", "wp_authorisationNotificationDate")

    def _extra_values(self, row, flags) -> dict:
        values = super()._extra_values(row, flags)
        values["credit_institution"], yes_no_flags = parse_yes_no(
            row.get("ae_credit_institution"), "ae_credit_institution"
        )
        flags += yes_no_flags
        return values
