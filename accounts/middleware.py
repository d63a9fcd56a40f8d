from django.core.exceptions import ObjectDoesNotExist


def account_of(user):
    """The account a user is a member of, or None (anonymous users, staff without an account)."""
    if not user.is_authenticated:
        return None
    try:
        return user.membership.account
    except ObjectDoesNotExist:
        return None


class CurrentAccountMiddleware:
    """Sets request.account: the signed-in member's account, or None."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.account = account_of(request.user)
        return self.get_response(request)
