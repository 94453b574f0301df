from authentik.lib.config import CONFIG

DATABASES = {
    "default": {
        "ENGINE": "authentik.root.db",
        "HOST": CONFIG.get("postgresql.host"),
        "NAME": CONFIG.get("postgresql.name"),
        "CONN_MAX_AGE": CONFIG.get_optional_int("postgresql.conn_max_age", 0),
    }
}
