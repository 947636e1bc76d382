"""ESMA's columns, as its files name them and as the README of the data defines them (labels for people)."""

from __future__ import annotations

from django.db import models


class Register(models.TextChoices):
    """ESMA's interim MiCA register files (each one file a day it publishes)."""

    CASP = "casp", "Authorised crypto-asset service providers (CASPs)"
    NCASP = "ncasp", "Non-compliant entities"
    OTHER = "other", "White papers for other crypto-assets"
    EMT = "emt", "E-money token issuers"
    ART = "art", "Asset-referenced token issuers"


# Columns whose cell is a ``|`` list: the same items in another order or spacing are not a change.
LIST_COLUMNS = frozenset({"ac_serviceCode", "ac_serviceCode_cou", "ae_website", "ae_offerCode_cou", "wp_url_cou"})

# The column that holds the end of an authorisation (a CASP's, an issuer's).
END_DATE_COLUMN = "ac_authorisationEndDate"

LABELS = {
    "ae_competentAuthority": "Competent authority",
    "ae_homeMemberState": "Home member state",
    "ae_lei_name": "Legal name",
    "ae_lei": "LEI",
    "ae_lei_cou_code": "LEI country",
    "ae_commercial_name": "Commercial name",
    "ae_address": "Address",
    "ae_website": "Website",
    "ae_website_platform": "Platform website",
    "ac_authorisationNotificationDate": "Authorisation date",
    "ac_authorisationEndDate": "Authorisation end date",
    "ac_serviceCode": "Services",
    "ac_serviceCode_cou": "Passported to (host member states)",
    "ac_comments": "Comments",
    "ac_lastupdate": "Last update",
    "ae_infrigment": "Article 17 case (ESMA against the authority)",
    "ae_reason": "Reason",
    "ae_decision_date": "Decision date",
    "ae_comments": "Comments",
    "ae_lastupdate": "Last update",
    "ae_lei_name_casp": "Filing CASP",
    "ae_lei_casp": "Filing CASP's LEI",
    "ae_offerCode_cou": "Host member states of the offer",
    "ae_DTI_FFG": "DTI functionally fungible group",
    "ae_DTI": "Digital Token Identifier (DTI)",
    "wp_url": "White paper",
    "wp_comments": "White paper comments",
    "wp_lastupdate": "White paper last update",
    "ae_exemption48_4": "Exemption, Article 48(4)",
    "ae_exemption48_5": "Exemption, Article 48(5)",
    "ae_authorisation_other_emt": "Authorisation as",
    "wp_authorisationNotificationDate": "White paper notification date",
    "ae_credit_institution": "Credit institution",
}


def label(column: str) -> str:
    """A column's name for people; ESMA's own name when we have none."""
    return LABELS.get(column, column)


def list_items(value: str) -> list[str]:
    """The items of a ``|`` list cell, spaces trimmed, empty items dropped, in ESMA's order."""
    return [item for item in (part.strip() for part in value.split("|")) if item]


def same_value(column: str, before: str, after: str) -> bool:
    """Whether two cells (whitespace already collapsed) say the same: a list column's items in any order."""
    if before == after:
        return True
    if column in LIST_COLUMNS:
        return sorted(set(list_items(before))) == sorted(set(list_items(after)))
    return False
