"""Display filters for DICOM values in the pages.

They return plain str, never SafeString, so autoescaping still applies to
whatever a sending system put in a name or description.
"""

from django import template

register = template.Library()


@register.filter
def person_name(value: str) -> str:
    """PN "Family^Given^Middle^Prefix^Suffix" as "Family, Given Middle"."""
    alphabetic = value.split("=")[0]
    parts = [p.strip() for p in alphabetic.split("^")]
    family = parts[0] if parts else ""
    given = " ".join(p for p in parts[1:3] if p)
    return f"{family}, {given}" if family and given else family or given


@register.filter
def dicom_date(value: str) -> str:
    """YYYYMMDD as YYYY-MM-DD; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


@register.filter
def dicom_time(value: str) -> str:
    """HHMMSS.FFFFFF (as stored) as HH:MM:SS."""
    if len(value) >= 6 and value[:6].isdigit():
        return f"{value[:2]}:{value[2:4]}:{value[4:6]}"
    return value


@register.filter
def modalities(value: str) -> str:
    return ", ".join(m for m in value.split("\\") if m)
