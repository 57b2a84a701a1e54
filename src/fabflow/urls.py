"""URL routes: the web app, the API, the Django admin, and public confirmation pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from fabflow.accounts import views as accounts
from fabflow.api import api
from fabflow.connectors import views as connectors
from fabflow.connectors.demo import connector as demo_connector
from fabflow.connectors.siteflow.demo import siteflow_api as demo_siteflow
from fabflow.flows import views as flows
from fabflow.orders import views as orders
from fabflow.production import views as production

urlpatterns = [
    path("", RedirectView.as_view(url="/orders"), name="home"),
    # Browsers and tools ask for /favicon.ico whatever the pages link.
    path("favicon.ico", RedirectView.as_view(url=static("fabflow/favicon.svg"), permanent=True)),
    path("login", accounts.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("password", accounts.PasswordView.as_view(), name="password_change"),
    path(
        "password/done",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("orders", orders.orders, name="orders"),
    path("orders/<uuid:order_id>", orders.order, name="order"),
    path("orders/<uuid:order_id>/files.zip", orders.order_files, name="order_files"),
    path("orders/<uuid:order_id>/<str:action>", flows.order_action, name="order_action"),
    path("products", orders.products, name="products"),
    path("products/<uuid:product_id>", orders.product, name="product"),
    path("parts", orders.parts, name="parts"),
    path("parts/<uuid:part_id>", orders.part, name="part"),
    path("files/<uuid:asset_id>", orders.download, name="download"),
    path("tables/<str:name>/columns", orders.table_columns, name="table_columns"),
    path("export/<str:name>.<str:kind>", orders.export, name="export"),
    path("tasks", flows.tasks, name="tasks"),
    path("tasks/count", flows.tasks_count, name="tasks_count"),
    path("tasks/<uuid:task_id>/<str:action>", flows.task_action, name="task_action"),
    path("flows", flows.flows, name="flows"),
    path("flows/preview", flows.flow_preview, name="flow_preview"),
    path("flows/<uuid:flow_id>", flows.flow_editor, name="flow"),
    path("models", production.models, name="models"),
    path("models/<uuid:model_id>", production.model, name="model"),
    path("models/<uuid:model_id>/preview", production.model_preview, name="model_preview"),
    path("users", accounts.users, name="users"),
    path("users/<int:user_id>", accounts.user_update, name="user_update"),
    path("users/<int:user_id>/active", accounts.user_active, name="user_active"),
    path("keys", accounts.keys, name="keys"),
    path("keys/<uuid:key_id>/revoke", accounts.key_revoke, name="key_revoke"),
    path("time-zone", accounts.time_zone, name="time_zone"),
    path("spaces/<uuid:space_id>/signing-secret", accounts.signing_secret, name="signing_secret"),
    path(
        "spaces/<uuid:space_id>/signing-secret/rotate",
        accounts.signing_secret_rotate,
        name="signing_secret_rotate",
    ),
    path("connections", connectors.connections, name="connections"),
    path("connections/credentials", connectors.credential_inputs, name="connection_credentials"),
    path("connections/<uuid:connection_id>", connectors.connection, name="connection"),
    path(
        "connections/<uuid:connection_id>/test", connectors.connection_test, name="connection_test"
    ),
    path("confirm/<str:token>", flows.confirm_task, name="confirm_task"),
    path("demo/connector", demo_connector, name="demo_connector"),
    path("demo/siteflow/<path:path>", demo_siteflow, name="demo_siteflow"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
