"""Supporting files: persons, operators, operator groups (+ memberships), suppliers, branches, locations,
departments and budget holders — each with its own paging family, field parameter and archived rule."""

from __future__ import annotations

import typing as t

from tap_topdesk.client import FiqlIncrementalStream, TopdeskStream, WindowedTopdeskStream
from tap_topdesk.snapshot import SnapshotMixin

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PERSONS_V2 = "application/x.topdesk-collection-person-v2+json"

#: Full field lists from the reference (§6.6), used when the schema file does not list properties yet.
BRANCH_FIELDS = (
    "id,status,name,specification,clientReferenceNumber,timeZone,extraA,extraB,phone,fax,address,email,website,"
    "postalAddress,branchType,headBranch,membershipNumber,accountManager,contact,vatNumber,surfaceArea,volume,"
    "attention,attentionComment,additionalInfo,serviceWindowOption,serviceWindow,realEstate,optionalFields1,"
    "optionalFields2,notes,creator,creationDate,modifier,modificationDate,hasAttention"
)
LOCATION_FIELDS = (
    "id,status,name,roomNumber,functionalUse,type,capacity,specification,budgetHolder,branch,buildingZone,"
    "roomStatus,roomSetup,majorLocation,area,finishing,reservationManagement,optionalFields1,optionalFields2,"
    "notes,creator,creationDate,modifier,modificationDate"
)


class PersonsStream(WindowedTopdeskStream):
    """Persons v2 (``Accept`` person-v2, ``fields=*``: the v2 default is a limited field set); archived persons
    come by default in v2. pageStart/pageSize (max 5000), windowed on modificationDate."""

    name = "persons"
    module = "persons"
    path = "/tas/api/persons"
    primary_keys = ("id",)
    accept = PERSONS_V2
    envelope = "item"
    offset_param = "pageStart"
    size_param = "pageSize"
    max_page_size = 5000

    def base_params(self) -> dict[str, t.Any]:
        return {"fields": "*", "sort": "modificationDate:asc,id:asc"}

    def extra_query(self) -> str | None:
        return None if self.include_archived else "archived==false"


class _StartPageSizeStream(FiqlIncrementalStream):
    """Operators, operator groups, suppliers: ``start``/``page_size`` (max 100), 206/204."""

    offset_param = "start"
    size_param = "page_size"
    max_page_size = 100
    primary_keys = ("id",)


class OperatorsStream(_StartPageSizeStream):
    name = "operators"
    module = "operators"
    path = "/tas/api/operators"

    def get_child_context(self, record: dict, context: Context | None) -> Context | None:
        return {"operator_id": record["id"]}


class OperatorGroupsStream(_StartPageSizeStream):
    name = "operator_groups"
    module = "operatorgroups"
    path = "/tas/api/operatorgroups"


class SuppliersStream(SnapshotMixin, _StartPageSizeStream):
    """Suppliers carry no dates: full table (a ``query`` is still sent so archived suppliers come too)."""

    name = "suppliers"
    module = "suppliers"
    path = "/tas/api/suppliers"
    replication_key = None  # type: ignore[assignment]

    def since_query(self, context: Context | None) -> str:
        return ""


class OperatorGroupMembersStream(TopdeskStream):
    """Memberships from ``/operators/id/{id}/operatorgroups`` (group membership is not on the operator)."""

    name = "operator_group_members"
    module = "operators"
    path = "/tas/api/operators/id/{operator_id}/operatorgroups"
    primary_keys = ("operator_id", "operator_group_id")
    parent_stream_type = OperatorsStream
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"query": "archived==true,archived==false"} if self.include_archived else {}

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        self.total_records += 1
        return {
            "operator_id": (context or {}).get("operator_id"),
            "operator_group_id": row.get("id"),
            "operator_group_name": row.get("name"),
        }


class _FieldListStream(FiqlIncrementalStream):
    """Branches and locations: the default ``$fields`` is only id/name, so every field is asked for by name."""

    primary_keys = ("id",)
    default_fields = ""

    def field_list(self) -> str:
        props = [p for p in self.schema.get("properties", {}) if p != self.parent_key]
        return ",".join(props) if props else self.default_fields

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        params["$fields"] = self.field_list()
        return params


class BranchesStream(_FieldListStream):
    """``/tas/api/branches``: no paging at all."""

    name = "branches"
    module = "branches"
    path = "/tas/api/branches"
    default_fields = BRANCH_FIELDS


class LocationsStream(_FieldListStream):
    """``/tas/api/locations``: ``pageSize`` only, unlimited by default (so not sent)."""

    name = "locations"
    module = "locations"
    path = "/tas/api/locations"
    default_fields = LOCATION_FIELDS


class DepartmentsStream(SnapshotMixin, TopdeskStream):
    """``{id,name,externalLinks}``, no paging, no dates: a full-table reference list."""

    name = "departments"
    module = "departments"
    path = "/tas/api/departments"
    primary_keys = ("id",)


class BudgetHoldersStream(SnapshotMixin, TopdeskStream):
    name = "budget_holders"
    module = "budgetholders"
    path = "/tas/api/budgetholders"
    primary_keys = ("id",)
