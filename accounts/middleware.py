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
        if request.account is not None:
            _remember_language(request)
        return self.get_response(request)


def _remember_language(request) -> None:
    """The member's language is the one they last used the console in: emails to them follow it."""
    language = getattr(request, "LANGUAGE_CODE", "")
    membership = request.user.membership
    if language and membership.language != language:
        membership.language = language
        type(membership).objects.filter(pk=membership.pk).update(language=language)
