"""URL routes: the API, the Django admin and the (coming) web app."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

from fabflow.api import api
from fabflow.connectors.demo import connector as demo_connector
from fabflow.flows.views import confirm_task


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect("/api/docs")


urlpatterns = [
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("confirm/<str:token>", confirm_task, name="confirm_task"),
    path("demo/connector", demo_connector, name="demo_connector"),
    path("", home, name="home"),
]
