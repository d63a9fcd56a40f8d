"""The console layout's parts that are the same on every request: rendered once per process.

    {% load console_shell %}
    {% rendered_once view_name namespace %} … {% endrendered_once %}

renders its content the first time for each language, URL prefix and URLconf and each value of its
arguments, then gives back the same text. The content may therefore depend on nothing else: its
arguments, `{% translate %}` and `{% url %}` (the navigation's 14 links, the same for every member),
never on the user, the account, the session or the CSRF token. A template loaded again (DEBUG
reloading) starts with an empty memo, as each parsed block keeps its own.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.safestring import mark_safe

register = template.Library()

# The arguments take few values (the console's view names × its namespaces); this bounds the memo
# should a caller pass something unbounded by mistake.
MAX_ENTRIES = 2000


class RenderedOnceNode(template.Node):
    def __init__(self, nodelist: template.NodeList, args: list[template.base.FilterExpression]):
        self.nodelist = nodelist
        self.args = args
        self.rendered: dict[tuple, str] = {}

    def render(self, context: template.Context) -> str:
        key = (
            translation.get_language(),
            get_script_prefix(),
            get_urlconf() or settings.ROOT_URLCONF,
            context.autoescape,
            *(arg.resolve(context) for arg in self.args),
        )
        text = self.rendered.get(key)
        if text is None:
            text = self.nodelist.render(context)
            if len(self.rendered) >= MAX_ENTRIES:
                self.rendered.clear()
            self.rendered[key] = text
        return mark_safe(text)


@register.tag
def rendered_once(parser: template.base.Parser, token: template.base.Token) -> RenderedOnceNode:
    """{% rendered_once arg … %} … {% endrendered_once %}: see the module's docstring."""
    args = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endrendered_once",))
    parser.delete_first_token()
    return RenderedOnceNode(nodelist, args)
