"""Test support: what a browser sends back for a Django form (the admin tests post change forms with it)."""

from django import forms

from registry.models import LicenseFact, LicenseStatus


def form_data(form, data=None):
    """What a browser would send back for ``form`` untouched: each field's current value."""
    data = {} if data is None else data
    for bound in form:
        value, widget, key = bound.value(), bound.field.widget, bound.html_name
        if isinstance(widget, forms.MultiWidget):
            parts = value if isinstance(value, list) else widget.decompress(value)
            data |= {f"{key}_{index}": "" if part is None else str(part) for index, part in enumerate(parts)}
        elif isinstance(widget, forms.CheckboxInput):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(item) for item in value]
        else:
            data[key] = "" if value is None else str(value)
    return data


def licence_add_data(
    parts, citations=1, quote="In March 2025, OKX successfully obtained the MiFID II licence", locator=""
):
    """What the admin's add-licence form sends for an active licence of ``parts`` (its ``holder``,
    ``license_type`` and ``source``) granted in March 2025, with ``citations`` citations of the source for that date."""
    data = {
        "holder": parts["holder"].pk,
        "license_type": parts["license_type"].pk,
        "regulator": "",
        "jurisdiction": "",
        "status": LicenseStatus.ACTIVE,
        "reference_number": "",
        "granted_on_0": "2025",
        "granted_on_1": "3",
        "granted_on_2": "",
        "ended_on_0": "",
        "ended_on_1": "",
        "ended_on_2": "",
        "conditions": "",
        "slug": "",
        "change_reason": "Entered from the OKX compliance overview",
        "citations-TOTAL_FORMS": str(citations),
        "citations-INITIAL_FORMS": "0",
        "citations-MIN_NUM_FORMS": "1",
        "citations-MAX_NUM_FORMS": "1000",
    }
    for index in range(citations):
        data |= {
            f"citations-{index}-source": parts["source"].pk,
            f"citations-{index}-supports": LicenseFact.GRANTED,
            f"citations-{index}-quote": quote,
            f"citations-{index}-locator": locator,
            f"citations-{index}-states": "March 2025",
        }
    return data
