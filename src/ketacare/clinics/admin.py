"""Django admin for clinic set-up (reference data, not PHI): clinics, locations, chairs and rooms."""

from django.contrib import admin

from ketacare.clinics.models import Clinic, Location, Resource


class LocationInline(admin.TabularInline[Location, Clinic]):
    model = Location
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin[Clinic]):
    list_display = ["name", "slug", "time_zone", "require_mfa"]
    search_fields = ["name", "slug"]
    inlines = [LocationInline]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin[Resource]):
    list_display = ["name", "kind", "location", "clinic", "is_active"]
    list_filter = ["clinic", "kind", "is_active"]
