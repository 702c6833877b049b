"""The coordinators' dashboard: ASGI app, data, SVG charts, accounts, templates."""
