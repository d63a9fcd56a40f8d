"""Action name (the X-TC-Action header) -> function(account, params) -> dict.

One module per action group in api/actions/; each registers its actions with the decorator:

    @action("GetEmailIdentity", errors=(DomainError,))
    def get_email_identity(account: Account, p: Params) -> dict:
        ...

The function returns the Response fields (without RequestId). Raise ApiError for a bad request;
the exception types listed in `errors` carry `.code` and `.message` (a service's own error, e.g.
DomainError) and go into the error envelope unchanged. Anything else is logged as InternalError.
Validate every parameter before calling a service, so an error path writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from accounts.models import Account
from api.params import Params

ActionFunc = Callable[[Account, Params], dict]


@dataclass(frozen=True)
class Action:
    name: str
    func: ActionFunc
    errors: tuple[type[Exception], ...]


ACTIONS: dict[str, Action] = {}


def action(name: str, *, errors: tuple[type[Exception], ...] = ()) -> Callable[[ActionFunc], ActionFunc]:
    def register(func: ActionFunc) -> ActionFunc:
        if name in ACTIONS:
            raise ImproperlyConfigured(f"API action {name} is registered twice.")
        ACTIONS[name] = Action(name, func, tuple(errors))
        return func

    return register
