"""How the component creates its children: one place for parent, name, tags and transforms."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pulumi

from .args import ResourceDraft, Transform

R = TypeVar("R", bound=pulumi.CustomResource)


@functools.cache
def taggable(resource_type: type[pulumi.CustomResource]) -> bool:
    """Whether a resource type takes `tags` (pulumi-aws declares every input of a type as a
    parameter of its `_internal_init`)."""
    init = getattr(resource_type, "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters


class Children:
    """Creates resources parented to one component, named `{component}-{suffix}`, each
    tagged with the component's tags when its type takes tags (tags a call passes itself
    are added over them)."""

    def __init__(
        self,
        parent: pulumi.ComponentResource,
        prefix: str,
        tags: Mapping[str, str],
        transforms: Mapping[str, Transform],
    ) -> None:
        self.parent = parent
        self.prefix = prefix
        self.tags = dict(tags)
        self.transforms = dict(transforms)

    def create(
        self,
        part: str,
        resource_type: type[R],
        suffix: str,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        retain_on_delete: bool = False,
        **args: Any,
    ) -> R:
        """Create one child; `part` selects the user's transform, if any, for it."""
        if taggable(resource_type):
            args["tags"] = {**self.tags, **(args.get("tags") or {})}
        draft = ResourceDraft(
            name=f"{self.prefix}-{suffix}",
            resource_type=resource_type,
            args=args,
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                depends_on=list(depends_on),
                retain_on_delete=retain_on_delete or None,
            ),
        )
        transform = self.transforms.get(part)
        if transform is not None:
            transform(draft)
        return resource_type(draft.name, opts=draft.opts, **draft.args)
