"""Ways records enter the register in bulk.

``bulk`` is the staff's CSV/XLSX import in the admin (django-import-export
resources and the admin mixin). Every importer saves through
:mod:`registry.review`, so an imported record is reviewed like a hand edit.
"""
