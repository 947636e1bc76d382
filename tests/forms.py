"""Test support: what a browser sends back for a Django form (the admin tests post change forms with it)."""

from django import forms


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
