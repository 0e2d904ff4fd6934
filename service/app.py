"""The application factory: the only place a Flask app is built.

``create_app(settings=None)`` reads settings from the environment unless given, then runs a
list of named ``register_*`` steps. Gunicorn serves ``service.app:create_app()``.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from service import errors, logs
from service.config import Environment, Settings
from service.conversations import destinations
from service.conversations.surge import SurgeGauge
from service.db import make_engine, make_session_factory
from service.redis_conn import redis_url_for
from service.sending import outbox
from service.web import (
    console,
    headers,
    health,
    params,
    simulator,
    twilio_webhooks,
    unavailable,
)
from service.web.cookie_sessions import ConsoleSessions
from service.web.extensions import EXTENSION_KEY, Resources, close_db_session

csrf = CSRFProtect()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    for register in (register_config, register_resources, register_blueprints, register_logging):
        register(app, settings)
    return app


def register_config(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=12 * 3600,  # a form stays valid as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,  # Twilio forms are a few KB; refuse floods early
        HANDSUP_ENV=settings.env.value,
    )
    # Twilio's webhooks never carry a cookie: no session is opened for them
    app.session_interface = ConsoleSessions(sessionless=(twilio_webhooks.PATHS,))
    params.init_app(app)  # before any route: every <int:...> is a bounded id
    headers.init_app(app, settings)
    if settings.proxy_hops:
        # Behind a PaaS router the client's address is in X-Forwarded-For; the console's
        # per-address login throttle must see it, not the router's.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_resources(app: Flask, settings: Settings) -> None:
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    outbox.track_due_work(session_factory)
    if settings.env is not Environment.TEST:  # tests change a community between two texts
        destinations.cache_destinations(engine)
    app.extensions[EXTENSION_KEY] = Resources(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        redis_url=redis_url_for(settings),
        surge=SurgeGauge(settings.surge_in_flight),
    )
    app.teardown_appcontext(close_db_session)


def register_blueprints(app: Flask, settings: Settings) -> None:
    csrf.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(twilio_webhooks.bp)
    csrf.exempt(twilio_webhooks.bp)  # authenticated by Twilio's signature instead
    console.init_app(app)
    unavailable.init_blueprint(app)  # a database outage anywhere else: 503, not 500
    if not settings.is_production:
        app.register_blueprint(simulator.bp)


def register_logging(app: Flask, settings: Settings) -> None:
    logs.configure_logging(settings.log_format)
    logs.init_app(app)
    errors.init_sentry(settings)
