from django.urls import path

from schools import views

urlpatterns = [
    path("api/schools/primary/", views.primary_schools),
    path("healthz", views.healthz),
    path("v2/pupils/", views.pupils),
]
