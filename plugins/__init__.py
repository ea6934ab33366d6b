"""ganzoo's built-in plugins, installed as the package ``ganzoo_plugins``.

Each module is an ordinary plugin: it implements hooks from :mod:`ganzoo.hookspecs`
exactly as a third-party package would. The core lists them once, in
``ganzoo.plugins.DEFAULT_PLUGINS``.
"""
