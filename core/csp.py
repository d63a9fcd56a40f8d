"""The Content-Security-Policy of the console's pages that draw charts (statistics, a domain's page).

plotly.js adds <style> elements for its own layout (modebar, hover labels); without inline styles the
charts draw unstyled. Relaxed for those pages only (`@csp_override(CHART_CSP)`); scripts stay 'self'.
"""

from django.conf import settings

CHART_CSP = {**settings.SECURE_CSP, "style-src": [*settings.SECURE_CSP["style-src"], "'unsafe-inline'"]}
