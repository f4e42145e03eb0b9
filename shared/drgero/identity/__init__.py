"""Identity and access: who is calling and what they may do (docs/identity.md). Modules:

- ``tokens``: the secret token format (``drgero_``/``hpd_``, checksum, display).
- ``credentials``: the credential store: issuing, listing, rotating, revoking tokens (hashes only).
- ``sessions``: user session JWTs (Cognito, Supabase, the local dev issuer).
- ``authorizer``: the REQUEST authorizer's logic: credential in, policy and principal out.
- ``principal``: the principal in API Gateway's request context, and its scopes.
- ``access``: authorization checks on a principal (tenant, leaderboard, dataset tokens).
- ``budget``: token dollar budgets: reserve, settle, release, sweep; usage counters.
- ``integrations``: a workspace's provider keys (OpenRouter, Hugging Face), sealed with KMS.
"""
