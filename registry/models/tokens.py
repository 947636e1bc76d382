"""Crypto-assets and their white papers (MiCA Titles II, III and IV), as ESMA's interim register lists them."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, Q

from registry.dates import PartialDateDescriptor, partial_date_constraints, partial_date_fields
from registry.links import detail_path
from registry.models.base import (
    FOUR_EYES,
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    Publication,
    SlugKeyed,
    SlugQuerySet,
    by_visibility_rule,
    choice_constraint,
    not_listed_field,
    official_register_key_field,
    optional_reference,
    quality_flags_field,
)
from registry.models.citations import citation_model
from registry.models.entities import Entity
from registry.models.places import Jurisdiction
from registry.models.regimes import Regulator


def yes_or_no_field(help_text: str, verbose_name: str | None = None) -> models.BooleanField:
    """A Yes or No of the official register, as published; empty where it published neither."""
    return models.BooleanField(verbose_name, null=True, blank=True, help_text=help_text)


class TokenKind(models.TextChoices):
    """The three kinds of crypto-asset MiCA regulates, one ESMA file each."""

    ART = "art", "Asset-referenced token (ART)"
    EMT = "emt", "E-money token (EMT)"
    OTHER = "other", "Other crypto-asset"


class WhitePaperQuerySet(SlugQuerySet):
    def published(self):
        """White papers the public may see: published, citing a published source, and every party it names
        (the offeror or issuer, the CASP that filed it, the notifying authority) published.

        The rule as data: ``VISIBILITY_RULES["whitepaper"]`` (registry/models/base.py).
        """
        return by_visibility_rule(self)


class CryptoAssetQuerySet(SlugQuerySet):
    def published(self):
        """Crypto-assets the public may see: published, with at least one white paper the public may see
        (a token is known from its white papers; one whose papers are all hidden is hidden with them)."""
        papers = WhitePaper.objects.published().filter(crypto_asset=OuterRef("pk"))
        return self.filter(Exists(papers), publication_status=Publication.PUBLISHED)


class CryptoAsset(SlugKeyed, Curated):
    """A crypto-asset (a token), identified as ISO 24165 does: its functionally fungible group (FFG) and the
    Digital Token Identifiers (DTI) of its forms on each ledger. Recorded only when a source identifies it."""

    Kind = TokenKind

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    kind = models.CharField(max_length=5, choices=TokenKind.choices, db_index=True, help_text="What MiCA calls it.")
    name = models.CharField(
        max_length=200, blank=True, help_text="Its name, when a source gives it (ESMA's register does not)."
    )
    ffg = models.CharField(
        "DTI of its functionally fungible group",
        max_length=20,
        blank=True,
        db_index=True,
        help_text="ISO 24165 FFG code: ESMA's column ae_DTI_FFG, as published once normalised (9 characters).",
    )
    dtis = models.TextField(
        "Digital Token Identifiers",
        blank=True,
        help_text="ISO 24165 DTIs of its forms (ESMA's column ae_DTI), one a line.",
    )
    official_register_key = official_register_key_field("esma-token:FFG")
    quality_flags = quality_flags_field()

    history = HistoricalRecords()

    objects = CryptoAssetQuerySet.as_manager()

    class Meta:
        ordering = ["name", "ffg", "slug"]
        verbose_name = "crypto-asset"
        constraints = [
            FOUR_EYES,
            choice_constraint("crypto_asset_publication_valid", "publication_status", Publication),
            choice_constraint("crypto_asset_kind_valid", "kind", TokenKind),
            models.CheckConstraint(
                condition=~Q(ffg="") | ~Q(dtis="") | ~Q(name=""),
                name="crypto_asset_identified",
                violation_error_message="A crypto-asset needs a name, an FFG code or a DTI.",
            ),
        ]

    def __str__(self):
        return self.label

    def get_absolute_url(self):
        return detail_path("public:crypto-asset-detail", self.slug)

    @property
    def label(self) -> str:
        """Its name, else its FFG code, else its first DTI: what the register knows it by."""
        if self.name:
            return self.name
        if self.ffg:
            return f"FFG {self.ffg}"
        return f"DTI {self.dti_list[0]}" if self.dti_list else self.slug

    @property
    def dti_list(self) -> list[str]:
        return [line for line in self.dtis.split("\n") if line]


class WhitePaper(SlugKeyed, Curated):
    """A crypto-asset white paper notified to a national authority (MiCA Articles 8, 17 and 51), as ESMA lists it."""

    Kind = TokenKind

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    kind = models.CharField(
        max_length=5,
        choices=TokenKind.choices,
        db_index=True,
        help_text="The register that lists it: ARTs (Title III), EMTs (Title IV), other crypto-assets (Title II).",
    )
    crypto_asset = optional_reference(
        CryptoAsset,
        "white_papers",
        "The crypto-asset it describes, when the source identifies it (by DTI or FFG code).",
        verbose_name="crypto-asset",
    )
    offeror = optional_reference(
        Entity,
        "white_papers",
        "The offeror or person seeking admission to trading (other crypto-assets), or the issuer (ARTs, "
        "EMTs): ESMA's ae_lei_name and ae_lei. Empty when the source names none.",
        verbose_name="offeror or issuer",
    )
    filed_by = optional_reference(
        Entity,
        "white_papers_filed",
        "The crypto-asset service provider that notified it for the offeror (ESMA's ae_lei_name_casp, "
        "ae_lei_casp), when one did.",
        verbose_name="filed by (CASP)",
    )
    regulator = optional_reference(
        Regulator,
        "white_papers",
        "The competent authority it was notified to (ESMA's ae_competentAuthority).",
        verbose_name="notifying authority",
    )
    jurisdiction = optional_reference(
        Jurisdiction,
        "white_papers",
        "The authority's member state (ESMA's ae_homeMemberState); empty when its code is unknown.",
        verbose_name="home member state",
    )
    host_states = models.ManyToManyField(
        Jurisdiction,
        blank=True,
        related_name="white_papers_hosted",
        verbose_name="host member states",
        help_text="Member states where the crypto-asset is offered (ESMA's ae_offerCode_cou; wp_url_cou for ARTs).",
    )
    url = models.URLField(
        "address", max_length=1000, blank=True, help_text="Where the white paper is published (ESMA's wp_url)."
    )
    url_as_published = models.CharField(
        "address as published",
        max_length=1000,
        blank=True,
        help_text="ESMA's wp_url as published, when it is not a web address (EMT_NO_WP, a file name).",
    )
    notified_on, notified_on_precision = partial_date_fields(
        "notified on", "When it was notified (ESMA's wp_authorisationNotificationDate; not in the Title II file)."
    )
    listed_on, listed_on_precision = partial_date_fields(
        "entry last updated on", "When ESMA's entry was last updated (ESMA's wp_lastupdate)."
    )
    comments = models.TextField(blank=True, help_text="ESMA's wp_comments, verbatim.")
    issuer_authorisation = models.CharField(
        max_length=200,
        blank=True,
        help_text="The issuer's authorisation as ESMA states it (ae_authorisation_other_emt: Electronic money "
        "institution, Credit institution); EMTs and ARTs only.",
    )
    issuer_authorised_on, issuer_authorised_on_precision = partial_date_fields(
        "issuer authorised on", "ESMA's ac_authorisationNotificationDate (EMTs and ARTs)."
    )
    issuer_authorisation_ended_on, issuer_authorisation_ended_on_precision = partial_date_fields(
        "issuer authorisation ended on", "ESMA's ac_authorisationEndDate (EMTs and ARTs)."
    )
    exemption_48_4 = yes_or_no_field(
        "ESMA's ae_exemption48_4 (MiCA Article 48(4)) as published, Yes or No; EMTs only.", "exemption of Article 48(4)"
    )
    exemption_48_5 = yes_or_no_field(
        "ESMA's ae_exemption48_5 (MiCA Article 48(5)) as published, Yes or No; EMTs only.", "exemption of Article 48(5)"
    )
    credit_institution = yes_or_no_field(
        "ESMA's ae_credit_institution as published, Yes or No: whether the issuer is a credit institution; ARTs only."
    )
    last_verified_on = models.DateField(
        "last verified on",
        null=True,
        blank=True,
        help_text="The last official-register snapshot that listed it.",
    )
    not_listed_since = not_listed_field()
    official_register_key = official_register_key_field("esma-other:…")
    quality_flags = quality_flags_field()

    notified = PartialDateDescriptor("notified_on")
    listed = PartialDateDescriptor("listed_on")
    issuer_authorised = PartialDateDescriptor("issuer_authorised_on")
    issuer_authorisation_ended = PartialDateDescriptor("issuer_authorisation_ended_on")

    history = HistoricalRecords(m2m_fields=["host_states"])

    objects = WhitePaperQuerySet.as_manager()

    class Meta:
        ordering = ["-listed_on", "slug"]
        verbose_name = "white paper"
        indexes = [models.Index(fields=["listed_on", "slug"], name="white_paper_listed_idx")]
        constraints = [
            FOUR_EYES,
            choice_constraint("white_paper_publication_valid", "publication_status", Publication),
            choice_constraint("white_paper_kind_valid", "kind", TokenKind),
            *partial_date_constraints("white_paper", "notified_on"),
            *partial_date_constraints("white_paper", "listed_on"),
            *partial_date_constraints("white_paper", "issuer_authorised_on"),
            *partial_date_constraints("white_paper", "issuer_authorisation_ended_on"),
            models.CheckConstraint(
                condition=Q(url="") | Q(url_as_published=""),
                name="white_paper_one_address",
                violation_error_message="Give the address, or the text published instead of one, not both.",
            ),
        ]

    def __str__(self):
        who = self.offeror or self.filed_by
        what = self.crypto_asset.label if self.crypto_asset_id else self.get_kind_display().lower()
        return f"White paper: {what}" + (f" ({who})" if who else "")

    def get_absolute_url(self):
        return detail_path("public:white-paper-detail", self.slug)

    @property
    def address(self) -> str:
        """The address, or what ESMA published instead of one."""
        return self.url or self.url_as_published


class WhitePaperFact(models.TextChoices):
    OFFEROR = "offeror", "Offeror or issuer"
    FILED_BY = "filed_by", "Filed by"
    REGULATOR = "regulator", "Notifying authority"
    HOST_STATES = "host_states", "Host member states"
    TOKEN = "crypto_asset", "Crypto-asset (DTI, FFG)"
    URL = "url", "Address"
    NOTIFIED = "notified_on", "Date notified"
    LISTED = "listed_on", "Entry last updated"


WhitePaperCitation = citation_model(
    "WhitePaperCitation",
    WhitePaper,
    "white_paper",
    WhitePaperFact,
    "the white paper",
    verbose_name="white paper citation",
)
