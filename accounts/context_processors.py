from accounts.middleware import SAFE_METHODS


def console(request):
    """The signed-in member's account and its freeze, for the layout's banner.

    A page that changes nothing shows the freeze read with the membership at the start of the
    request (accounts.middleware, no query of its own); after a POST the freeze is read again, as
    the request may have frozen the account or lifted its freeze.
    """
    account = getattr(request, "account", None)
    if account is None:
        freeze = None
    elif request.method in SAFE_METHODS and hasattr(account, "today_freeze"):
        freeze = account.today_freeze
    else:
        freeze = account.active_freeze()
    return {"current_account": account, "current_freeze": freeze}
