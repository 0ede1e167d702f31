"""PDF templates: create, save (every save is a version), versions and their diff, rollback,
clone, saved themes and uploaded images (assets).

Authorization is the one of every object (``portal.identity.permissions.authorize``): the
template's tenant, owner, visibility and grants. The caller owns the session.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from typing import Any

from defusedxml import ElementTree as ET
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.errors import Conflict, InvalidSpec, NotFound, PayloadTooLarge
from portal.identity import audit
from portal.identity.permissions import authorize, can, visible_clause
from portal.identity.principal import Principal
from portal.models import PdfAsset, PdfTemplate, PdfTemplateVersion, PdfTheme, User
from portal.pdf.diff import TemplateDiff, diff_specs
from portal.pdf.inputs import Asset
from portal.specs.pdf import DARK_THEME, PdfTemplateSpec, ThemeSpec, parse_template, parse_theme

VISIBILITIES = ("private", "group", "customer", "public")
MAX_ASSET_BYTES = 2 * 1024 * 1024  #: an uploaded image, at most
MAX_ASSET_PIXELS = 25_000_000  #: width × height of an uploaded bitmap, at most (decompression bombs)
ASSET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
BUILTIN_THEMES: tuple[ThemeSpec, ...] = (ThemeSpec(), DARK_THEME)


def template_spec(t: PdfTemplate) -> PdfTemplateSpec:
    """The current spec of a template row."""
    return parse_template(t.schema_json)


def _stored(spec: PdfTemplateSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_defaults=False)


def template_to_dict(t: PdfTemplate, *, with_spec: bool = False) -> dict[str, Any]:
    """JSON form of a template (``spec`` only when asked: it may be large)."""
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "version": t.version,
        "visibility": t.visibility,
        "owner_id": t.owner_id,
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "updated_at": t.updated_at.isoformat() if t.updated_at else None,
    }
    if with_spec:
        out["spec"] = t.schema_json
    return out


def version_to_dict(v: PdfTemplateVersion, authors: dict[int, str] | None = None) -> dict[str, Any]:
    """JSON form of a version (without its spec)."""
    return {
        "version": v.version,
        "name": v.name,
        "comment": v.comment,
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "created_by": v.created_by,
        "author": (authors or {}).get(v.created_by or 0),
    }


def get_template(
    session: Session, principal: Principal, template_id: int, action: str = "view"
) -> PdfTemplate:
    """A template the principal may ``action``; NotFound for other tenants, deleted or invisible ones."""
    t = session.get(PdfTemplate, template_id) if 0 < template_id < 2**62 else None
    if t is None or not t.is_active:
        raise NotFound(f"pdf template {template_id} not found")
    authorize(session, principal, action, t)
    return t


def list_templates(session: Session, principal: Principal) -> list[PdfTemplate]:
    """The templates the principal may view, most recently changed first."""
    rows = session.scalars(
        select(PdfTemplate)
        .where(visible_clause(session, principal, PdfTemplate), PdfTemplate.is_active.is_(True))
        .order_by(PdfTemplate.updated_at.desc(), PdfTemplate.id.desc())
    ).all()
    return [t for t in rows if t.visibility != "customer" or can(session, principal, "view", t)]


def _visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise InvalidSpec(f"visibility: use one of {', '.join(VISIBILITIES)}", field="visibility")
    return value


def _add_version(
    session: Session, principal: Principal, t: PdfTemplate, spec: PdfTemplateSpec, comment: str
) -> None:
    session.add(
        PdfTemplateVersion(
            template_id=t.id,
            version=t.version,
            schema_json=_stored(spec),
            theme_json=spec.theme.model_dump(mode="json"),
            created_by=principal.user_id,
            comment=comment[:2000],
            name=spec.name,
        )
    )
    session.flush()


def create_template(
    session: Session,
    principal: Principal,
    spec: PdfTemplateSpec | dict[str, Any],
    *,
    comment: str = "",
    visibility: str = "private",
) -> PdfTemplate:
    """Create a template owned by ``principal`` (version 1)."""
    s = parse_template(spec)
    t = PdfTemplate(
        tenant_id=principal.tenant_id,
        owner_id=principal.require_user("own templates"),
        name=s.name.strip(),
        description=s.description,
        schema_json=_stored(s),
        theme_json=s.theme.model_dump(mode="json"),
        visibility=_visibility(visibility),
        version=1,
    )
    session.add(t)
    session.flush()
    _add_version(session, principal, t, s, comment or "created")
    audit.record(session, principal, "create", t, details={"name": t.name})
    return t


def save_template(
    session: Session,
    principal: Principal,
    template_id: int,
    spec: PdfTemplateSpec | dict[str, Any],
    *,
    comment: str = "",
    base_version: int | None = None,
    visibility: str | None = None,
) -> PdfTemplate:
    """Save a new version. ``base_version`` (the version the editor started from) guards
    against overwriting someone else's save: a stale one raises :class:`Conflict`."""
    t = get_template(session, principal, template_id, "edit")
    s = parse_template(spec)
    if base_version is not None and base_version != t.version:
        raise Conflict(
            f"base_version: the template is at version {t.version}, not {base_version} "
            "(someone saved it meanwhile; reload to see their changes)",
            field="base_version",
        )
    before = _audited(t)
    t.version += 1
    t.name, t.description = s.name.strip(), s.description
    t.schema_json, t.theme_json = _stored(s), s.theme.model_dump(mode="json")
    if visibility is not None:
        t.visibility = _visibility(visibility)
    session.flush()
    _add_version(session, principal, t, s, comment)
    after = _audited(t)
    changed = [k for k in after if after[k] != before[k]]
    audit.record(
        session,
        principal,
        "edit",
        t,
        details={
            "version": t.version,
            "before": {k: before[k] for k in changed},
            "after": {k: after[k] for k in changed},
        },
    )
    return t


def _audited(t: PdfTemplate) -> dict[str, Any]:
    """The template's fields as the audit trail keeps them (the full spec lives in its versions)."""
    return {
        "version": t.version,
        "name": t.name,
        "description": t.description,
        "visibility": t.visibility,
        "pages": len((t.schema_json or {}).get("pages") or []),
        "theme": dict(t.theme_json or {}),
    }


def delete_template(session: Session, principal: Principal, template_id: int) -> None:
    """Retire a template (owner or admin); its versions and renders stay for the record."""
    t = get_template(session, principal, template_id, "delete")
    t.is_active = False
    session.flush()
    audit.record(session, principal, "delete", t, details={"name": t.name})


def list_versions(session: Session, principal: Principal, template_id: int) -> list[PdfTemplateVersion]:
    """A template's versions, newest first."""
    get_template(session, principal, template_id)
    return list(
        session.scalars(
            select(PdfTemplateVersion)
            .where(PdfTemplateVersion.template_id == template_id)
            .order_by(PdfTemplateVersion.version.desc())
        )
    )


def version_authors(session: Session, versions: Iterable[PdfTemplateVersion]) -> dict[int, str]:
    """``{user id: name}`` of the versions' authors."""
    ids = {v.created_by for v in versions if v.created_by is not None}
    if not ids:
        return {}
    return {u.id: u.name or u.email for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _version_row(session: Session, template_id: int, version: int) -> PdfTemplateVersion:
    row = session.scalar(
        select(PdfTemplateVersion).where(
            PdfTemplateVersion.template_id == template_id, PdfTemplateVersion.version == version
        )
    )
    if row is None:
        raise NotFound(f"version: template {template_id} has no version {version}", field="version")
    return row


def version_spec(session: Session, principal: Principal, template_id: int, version: int) -> PdfTemplateSpec:
    """The spec as saved in ``version``."""
    get_template(session, principal, template_id)
    return parse_template(_version_row(session, template_id, version).schema_json)


def diff_versions(
    session: Session, principal: Principal, template_id: int, old: int, new: int
) -> TemplateDiff:
    """What changed from version ``old`` to version ``new``."""
    a = version_spec(session, principal, template_id, old)
    b = version_spec(session, principal, template_id, new)
    return diff_specs(a, b, old_version=old, new_version=new)


def rollback(session: Session, principal: Principal, template_id: int, version: int) -> PdfTemplate:
    """Make ``version`` current again, as a new version (history is never rewritten)."""
    t = get_template(session, principal, template_id, "edit")
    spec = parse_template(_version_row(session, template_id, version).schema_json)
    return save_template(session, principal, t.id, spec, comment=f"rolled back to version {version}")


def clone_template(
    session: Session, principal: Principal, template_id: int, name: str | None = None
) -> PdfTemplate:
    """A copy owned by ``principal`` (version 1), named ``name`` or "<name> (copy)"."""
    t = get_template(session, principal, template_id, "view")
    spec = template_spec(t)
    new_name = (name or f"{spec.name} (copy)").strip()[:200]
    if not new_name:
        raise InvalidSpec("name: give the copy a name", field="name")
    clone = spec.model_copy(update={"name": new_name})
    return create_template(
        session, principal, clone, comment=f"cloned from template {t.id} version {t.version}"
    )


# --------------------------------------------------------------------------- themes
def list_themes(session: Session, principal: Principal) -> list[ThemeSpec]:
    """The built-in Light and Dark themes, then the tenant's saved ones by name."""
    saved = session.scalars(
        select(PdfTheme).where(PdfTheme.tenant_id == principal.tenant_id).order_by(PdfTheme.name)
    )
    return [*BUILTIN_THEMES, *(parse_theme(t.theme_json) for t in saved)]


def save_theme(session: Session, principal: Principal, theme: ThemeSpec | dict[str, Any]) -> PdfTheme:
    """Save (or replace) the tenant's theme of that name; built-in names are taken."""
    th = parse_theme(theme)
    if th.name in {b.name for b in BUILTIN_THEMES}:
        raise InvalidSpec(
            f"name: {th.name!r} is a built-in theme; save yours under another name", field="name"
        )
    row = session.scalar(
        select(PdfTheme).where(PdfTheme.tenant_id == principal.tenant_id, PdfTheme.name == th.name)
    )
    if row is None:
        row = PdfTheme(tenant_id=principal.tenant_id, name=th.name, created_by=principal.user_id)
        session.add(row)
    row.theme_json = th.model_dump(mode="json")
    session.flush()
    return row


# --------------------------------------------------------------------------- assets
def _sniff(data: bytes) -> str:
    """The content type of an uploaded image, from its bytes (never from the name or the client)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "image/jpeg"
    else:
        head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if not (head.startswith(b"<svg") or head.startswith(b"<?xml")):
            raise InvalidSpec("file: upload a PNG, JPEG or SVG image", field="file")
        return _check_svg(data)
    from PIL import Image  # Pillow comes with fpdf2

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_ASSET_PIXELS:
                raise InvalidSpec(
                    f"file: the image is {img.width}×{img.height} pixels; "
                    f"at most {MAX_ASSET_PIXELS:,} pixels",
                    field="file",
                )
            img.verify()
    except InvalidSpec:
        raise
    except Exception:
        raise InvalidSpec("file: the image is damaged or not really a PNG/JPEG", field="file") from None
    return kind


def _check_svg(data: bytes) -> str:
    try:
        root = ET.fromstring(data, forbid_dtd=True)  # no entities: no billion laughs, no external files
    except Exception as exc:  # ParseError and defusedxml's refusals alike
        raise InvalidSpec(f"file: not a valid SVG ({exc})", field="file") from None
    if not root.tag.endswith("svg"):
        raise InvalidSpec("file: upload a PNG, JPEG or SVG image", field="file")
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag in ("script", "foreignobject"):
            raise InvalidSpec(f"file: SVG images may not hold <{tag}>", field="file")
        for k, v in el.attrib.items():
            name = k.rsplit("}", 1)[-1].lower()
            if name.startswith("on") or (name == "href" and not v.startswith(("#", "data:image/"))):
                raise InvalidSpec(
                    f"file: SVG images may not hold {name}= (scripts or outside links)", field="file"
                )
    return "image/svg+xml"


def upload_asset(session: Session, principal: Principal, name: str, data: bytes) -> PdfAsset:
    """Store an image under ``name`` for the tenant (replacing one of that name); sniffed,
    size-limited. Any signed-in user who can edit templates may upload."""
    principal.require_user("upload images")
    if not ASSET_NAME_RE.match(name or ""):
        raise InvalidSpec("name: letters, digits, '.', '_' and '-' only (at most 120)", field="name")
    if len(data) > MAX_ASSET_BYTES:
        raise PayloadTooLarge(
            f"file: at most {MAX_ASSET_BYTES // 1024 // 1024} MB, got {len(data):,} bytes", field="file"
        )
    if not data:
        raise InvalidSpec("file: the file is empty", field="file")
    kind = _sniff(data)
    row = session.scalar(
        select(PdfAsset).where(PdfAsset.tenant_id == principal.tenant_id, PdfAsset.name == name)
    )
    if row is None:
        row = PdfAsset(tenant_id=principal.tenant_id, name=name, created_by=principal.user_id)
        session.add(row)
    row.content_type, row.data = kind, data
    row.sha256, row.size_bytes = hashlib.sha256(data).hexdigest(), len(data)
    session.flush()
    return row


def list_assets(session: Session, principal: Principal) -> list[PdfAsset]:
    """The tenant's images, by name (the bytes are loaded lazily by the caller if needed)."""
    return list(
        session.scalars(
            select(PdfAsset).where(PdfAsset.tenant_id == principal.tenant_id).order_by(PdfAsset.name)
        )
    )


def asset_to_dict(a: PdfAsset) -> dict[str, Any]:
    """JSON form of an asset (without its bytes)."""
    return {"name": a.name, "content_type": a.content_type, "size_bytes": a.size_bytes, "sha256": a.sha256}


def load_assets(session: Session, tenant_id: int, names: Iterable[str]) -> dict[str, Asset]:
    """The named images of a tenant for a render (missing names are simply absent)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = session.scalars(select(PdfAsset).where(PdfAsset.tenant_id == tenant_id, PdfAsset.name.in_(wanted)))
    return {a.name: Asset(name=a.name, content_type=a.content_type, data=a.data) for a in rows}


def count_versions(session: Session, template_id: int) -> int:
    """How many versions a template has."""
    return int(session.scalar(select(func.count()).where(PdfTemplateVersion.template_id == template_id)) or 0)
