"""No hold outlives its call: a reserve whose answer is lost after DynamoDB committed it (a
timeout, a 5xx) is released before the error surfaces, so the sweeper never charges a hold
for a call that never reached a model."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from drgero.identity.credentials import get_api_token
from drgero.inference.request import InferenceRequest
from tests.support.inference import budgeted_service


class LostAnswerDynamo:
    """Applies the first reserve (the UpdateItem that adds a hold), then raises as if its
    answer was lost (500)."""

    def __init__(self, client) -> None:
        self._client = client
        self.lost = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def update_item(self, **kwargs):
        answer = self._client.update_item(**kwargs)
        if self.lost == 0 and "holds.#h = :hold" in kwargs["UpdateExpression"]:
            self.lost += 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "lost"}}, "UpdateItem")
        return answer


def test_an_ambiguous_reserve_is_released_before_the_error_surfaces(aws, sandbox):
    world, service, principal, token_id = budgeted_service(aws, sandbox, LostAnswerDynamo)
    lost = aws.clients.dynamodb
    with pytest.raises(ClientError):
        service.infer(principal, world.leaderboard_id, InferenceRequest("question", None, 200, None, {}))
    assert lost.lost == 1
    token = get_api_token(world.table, world.workspace_id, token_id)
    assert token["reserved_micro_usd"] == 0 and token["spent_micro_usd"] == 0
    assert token["remaining_micro_usd"] == 1_000_000 and token["holds"] == {}
    # The next call works and is charged once.
    outcome = service.infer(principal, world.leaderboard_id, InferenceRequest("again", None, 200, None, {}))
    token = get_api_token(world.table, world.workspace_id, token_id)
    assert token["reserved_micro_usd"] == 0 and token["spent_micro_usd"] == round(outcome.cost_usd * 1_000_000)
