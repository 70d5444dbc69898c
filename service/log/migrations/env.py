"""Alembic environment: runs on the connection the service hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import create_engine

from service.log.partitions import include_name
from service.log.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic -x` / command line use: sqlalchemy.url from alembic.ini or -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///data/requests.db upgrade head")
    with create_engine(url).begin() as conn:
        context.configure(
            connection=conn, target_metadata=Base.metadata, render_as_batch=True, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()
