"""Health probes and the development phone simulator."""

from __future__ import annotations

from dataclasses import replace

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.app import create_app
from service.config import Environment, Settings
from service.models import Community, Message, Volunteer


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_when_database_and_redis_are_up(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json is not None and response.json["checks"] == {
        "database": "ok",
        "redis": "ok",
    }


def test_readyz_is_503_when_redis_is_unreachable(settings: Settings) -> None:
    app = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None and response.json["checks"]["redis"] == "unreachable"


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = create_app(broken).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None and response.json["checks"]["database"] == "unreachable"


def test_simulator_conversation(app: Flask, community: Community, db: Session) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    page = client.get("/simulator/")
    assert page.status_code == 200 and b"Riverside Flood Crew" in page.data
    response = client.post(
        "/simulator/",
        data={"community": "riverside", "phone": "(202) 555-0123", "body": "JOIN"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert b"What is your name?" in response.data
    volunteer = db.scalars(select(Volunteer)).one()
    assert volunteer.phone == "+12025550123"
    assert db.scalars(select(Message.body).order_by(Message.id)).first() == "JOIN"


def test_simulator_rejects_a_bad_number_with_a_message(app: Flask, community: Community) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    response = app.test_client().post(
        "/simulator/",
        data={"community": "riverside", "phone": "12", "body": "JOIN"},
        follow_redirects=True,
    )
    assert response.status_code == 200 and b"not a" in response.data


def test_simulator_requires_csrf_token(app: Flask, community: Community) -> None:
    response = app.test_client().post(
        "/simulator/", data={"community": "riverside", "phone": "+12025550123", "body": "JOIN"}
    )
    assert response.status_code == 400


def test_simulator_is_absent_in_production(settings: Settings) -> None:
    app = create_app(replace(settings, env=Environment.PRODUCTION))
    assert app.test_client().get("/simulator/").status_code == 404
