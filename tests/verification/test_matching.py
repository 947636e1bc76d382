"""How names and domains are compared: legal forms, case, accents and addresses that mean the same."""

import pytest

from verification.matching import name_key, registrable_domain


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("OKX Europe Ltd", "OKX Europe Limited"),
        ("OKX Europe Ltd.", "okx europe"),
        ("OKX SG Pte. Ltd.", "OKX SG"),
        ("Bitstamp Europe S.A.", "Bitstamp Europe SA"),
        ("UAB Foo Exchange", "Foo Exchange"),
        ("Société Générale Forge SAS", "Societe Generale Forge"),
        ("Smith & Sons GmbH", "Smith and Sons"),
        ("Crypto.com ApS", "Cryptocom"),
    ],
)
def test_names_that_differ_only_in_legal_form_case_or_accents_match(one, other):
    assert name_key(one) == name_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Bybit EU GmbH", "Bybit GmbH"),  # EU is part of the name, not a legal form
        ("OKX Europe Ltd", "OKX Ltd"),
        ("Limited Ltd", "Ltd"),  # a name that is only a legal form keeps it
    ],
)
def test_names_that_differ_in_substance_do_not(one, other):
    assert name_key(one) != name_key(other)


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("https://www.okx.com/en/help", "okx.com"),
        ("OKX.com", "okx.com"),
        ("compliance@okx.com", "okx.com"),
        ("https://m.htxcoin-az.com", "htxcoin-az.com"),
        ("http://foo.co.uk", "foo.co.uk"),
        ("https://scam.github.io", "scam.github.io"),  # a private suffix: one site, not GitHub
        ("bücher.de", "xn--bcher-kva.de"),
        ("shop.some-new-tld", "shop.some-new-tld"),
        ("localhost", ""),
        ("192.0.2.7", ""),
        ("not a domain", ""),
    ],
)
def test_domains_are_compared_as_registrable_domains(address, domain):
    assert registrable_domain(address) == domain
