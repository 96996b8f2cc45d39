"""CaribIX automation: the island data model, its validation and exports.

Ansible plugins in ../plugins call into this package so that the logic is
plain, unit-tested Python and the playbooks stay readable.
"""
