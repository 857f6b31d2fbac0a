"""The JSON of Salesforce's describe calls: describeGlobal entries, sObject describe and field describe.

Every key the REST API writes is present (checked against recorded responses in
tests/conformance/fixtures/salesforce), with the values a real org gives for the field's type.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce_schema import Field, SObject

_SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId")
_UNFILTERABLE = ("base64", "address", "location", "anyType")
_UNSORTABLE = ("textarea", "multipicklist", "base64", "address", "location", "anyType")
_UNGROUPABLE = ("currency", "double", "percent", "datetime", "time", "textarea", "base64", "address",
                "location", "multipicklist", "encryptedstring", "anyType")  # fmt: skip
_NUMBER_DEFAULTS = {"currency": (18, 2), "double": (18, 2), "percent": (3, 0)}


def is_filterable(spec: Field) -> bool:
    if spec.filterable is not None:
        return spec.filterable
    if spec.type in _UNFILTERABLE:
        return False
    return not (spec.type == "textarea" and spec.length > 255)


def field_describe(spec: Field) -> dict[str, Any]:
    """One entry of `fields` in an sObject describe."""
    kind = spec.type
    precision, scale = _NUMBER_DEFAULTS.get(kind, (0, 0))
    text_like = kind not in ("boolean", "int", "long", "double", "currency", "percent", "date", "datetime",
                             "time", "address", "location", "base64")  # fmt: skip
    length = spec.length if text_like else 0
    return {
        "aggregatable": kind not in ("textarea", "base64", "address", "location", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": spec.auto_number,
        "byteLength": length * 3 if kind not in ("id", "reference") else length,
        "calculated": spec.formula is not None,
        "calculatedFormula": spec.formula,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": spec.compound,
        "controllerName": None,
        "createable": spec.createable,
        "custom": spec.custom,
        "defaultValue": False if kind == "boolean" and not spec.nillable else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": spec.defaulted or kind == "boolean" or spec.name in _SYSTEM_FIELDS,
        "dependentPicklist": False,
        "deprecatedAndHidden": spec.deprecated,
        "digits": (9 if kind == "int" else 18 if kind == "long" else 0),
        "displayLocationInDecimal": kind == "location",
        "encrypted": kind == "encryptedstring",
        "externalId": spec.external_id,
        "extraTypeInfo": spec.extra_type,
        "filterable": is_filterable(spec),
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": kind not in _UNGROUPABLE,
        "highScaleNumber": False,
        "htmlFormatted": spec.extra_type == "richtextarea",
        "idLookup": kind == "id" or spec.external_id,
        "inlineHelpText": None,
        "label": spec.label,
        "length": length,
        "mask": None,
        "maskType": None,
        "name": spec.name,
        "nameField": spec.name == "Name",
        "namePointing": spec.name == "OwnerId" or len(spec.reference_to) > 1,
        "nillable": spec.nillable,
        "permissionable": spec.nillable and spec.custom,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in spec.picklist
        ],
        "polymorphicForeignKey": len(spec.reference_to) > 1,
        "precision": spec.precision if spec.precision is not None else precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": kind in ("picklist", "multipicklist") and spec.custom,
        "scale": spec.scale if spec.scale is not None else scale,
        "searchPrefilterable": kind == "reference",
        "soapType": spec.soap_type,
        "sortable": kind not in _UNSORTABLE,
        "type": kind,
        "unique": spec.unique,
        "updateable": spec.updateable,
        "writeRequiresMasterRead": False,
    }


def _urls(obj: SObject, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def object_summary(obj: SObject, version: str) -> dict[str, Any]:
    """An object's entry in describeGlobal (`GET /sobjects`)."""
    flag = obj.flag
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": flag("createable"),
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": flag("deletable"),
        "deprecatedAndHidden": not flag("visible"),
        "feedEnabled": flag("feedEnabled"),
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix or None,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": flag("layoutable"),
        "mergeable": obj.name in ("Account", "Contact", "Lead", "Case"),
        "mruEnabled": flag("layoutable"),
        "name": obj.name,
        "queryable": flag("queryable"),
        "replicateable": flag("replicateable"),
        "retrieveable": flag("retrieveable"),
        "searchable": flag("searchable"),
        "triggerable": flag("triggerable"),
        "undeletable": flag("deletable"),
        "updateable": flag("updateable"),
        "urls": _urls(obj, version),
    }


def record_type_id(obj: SObject, name: str) -> str:
    """A stable 18-character RecordType id (key prefix 012) for a record type of `obj`."""
    from integrations_sandbox.emulator.systems.salesforce_schema import make_id

    digest = hashlib.blake2b(f"{obj.name}|{name}".encode(), digest_size=4).digest()
    return make_id("012", int.from_bytes(digest, "big") % 62**7)


def record_type_infos(obj: SObject, version: str) -> list[dict[str, Any]]:
    infos = []
    for name in (*obj.record_types, "Master"):
        master = name == "Master"
        type_id = "012000000000000AAA" if master else record_type_id(obj, name)
        infos.append(
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": name == (obj.record_types or ("Master",))[0],
                "developerName": name.replace(" ", "_"),
                "master": master,
                "name": name,
                "recordTypeId": type_id,
                "urls": {
                    "layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts/{type_id}"
                },
            }
        )
    return infos


def child_relationship(child: SObject, spec: Field) -> dict[str, Any]:
    """An entry of the parent's `childRelationships` for the lookup `spec` on `child`."""
    plural = child.label_plural.replace(" ", "")
    name = f"{plural}__r" if spec.custom else plural
    return {
        "cascadeDelete": False,
        "childSObject": child.name,
        "deprecatedAndHidden": False,
        "field": spec.name,
        "junctionIdListNames": [],
        "junctionReferenceTo": [],
        "relationshipName": name,
        "restrictedDelete": False,
    }


def object_describe(obj: SObject, version: str, children: list[dict[str, Any]]) -> dict[str, Any]:
    """`GET /sobjects/{type}/describe`: the describeGlobal entry plus fields, child relationships,
    record types and the object's other describe keys."""
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    summary = object_summary(obj, version)
    return {
        **summary,
        "actionOverrides": [],
        "childRelationships": children,
        "compactLayoutable": summary["layoutable"],
        "dataTranslationEnabled": False,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [f.describe() for f in obj.fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": record_type_infos(obj, version),
        "searchLayoutable": summary["searchable"],
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + obj.label_plural, "name": "everything"}],
        "urls": {
            **summary["urls"],
            "compactLayouts": f"{base}/describe/compactLayouts",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "listviews": f"{base}/listviews",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            # Salesforce writes these absolute on the org's classic UI host, which the sandbox has not
            "uiDetailTemplate": "/{ID}",
            "uiEditTemplate": "/{ID}/e",
            "uiNewRecord": f"/{obj.key_prefix}/e",
        },
    }
