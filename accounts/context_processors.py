def console(request):
    """The signed-in member's account and its freeze, for the layout's banner."""
    account = getattr(request, "account", None)
    freeze = account.active_freeze() if account is not None else None
    return {"current_account": account, "current_freeze": freeze}
