"""The history of ESMA's official register files, which ESMA does not publish itself.

Each imported file is a :class:`~official.models.RegisterSnapshot`; what changed since the register's
previous snapshot, column by column as ESMA published it, is a :class:`~official.models.RegisterChange`
(:mod:`official.record` writes them, :mod:`official.diff` compares two snapshots, :mod:`official.views`
shows them).
"""
