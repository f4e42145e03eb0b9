"""Workspaces: members, invitations, plans."""
