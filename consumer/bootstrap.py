"""The consumer's composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consumer.service_layer.unit_of_work import UnitOfWork
from payhooks.db.engine import make_engine, make_session_factory
from payhooks.settings import Settings
from schemas.names import dlq_topic, main_topic


@dataclass
class CreditApp:
    settings: Settings
    group: str
    engine: Engine
    session_factory: sessionmaker[Session]
    main_topic: str
    dlq_topic: str

    def new_uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings, *, group: str | None = None) -> CreditApp:
    engine = make_engine(settings.database_url)
    return CreditApp(
        settings=settings,
        group=group or settings.consumer_group,
        engine=engine,
        session_factory=make_session_factory(engine),
        main_topic=main_topic(settings.topic_prefix),
        dlq_topic=dlq_topic(settings.topic_prefix),
    )
