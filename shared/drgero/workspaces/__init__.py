"""Workspaces (docs/identity.md). Modules, one job each:

- ``membership``: workspaces, members (roles) and invitations.
- ``plans``: what a workspace's plan allows, checked by the areas that create or delete things.
"""
