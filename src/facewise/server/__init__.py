"""The REST service (``facewise serve``): a FastAPI app with API keys, limits and metrics.

:func:`facewise.server.app.create_app` builds the app from :class:`~facewise.settings.Settings`;
routes are thin (parse, call the Engine or the Gallery, render with :mod:`facewise.serialize`)
and every error is JSON ``{"code", "message"}``, never a traceback or a server path.
"""
