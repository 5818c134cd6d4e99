"""The recipe registry and the recipes of the paper (and one of our own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._registry import Patterns, Registry, bare_or_called
from .components import DRY_BUILDS
from .measurements import format_measurement, load_measurements
from .recipe import Recipe

__all__ = [
    "register_recipe",
    "unregister_recipe",
    "list_recipes",
    "get_recipe",
    "recipe_measurements",
]

_RECIPES: Registry[Recipe] = Registry("recipe")

_PAPER = "Deep Residual Learning: Analyzing Model Performance on CIFAR-10 Images"
_FLIP_CROP = (("RandomHorizontalFlip", {"p": 0.5}), ("RandomCrop", {"size": None, "padding": 4}))


def register_recipe(recipe: Recipe | None = None, *, name: str | None = None) -> Any:
    """Register a :class:`Recipe` (under ``recipe.name`` unless ``name`` is given).

    Usable as a call, ``register_recipe(my_recipe)``, or as a decorator on a
    function that returns one.

    Raises:
        ValueError: if the name is already registered.
    """

    def add(obj: Recipe | Callable[[], Recipe]) -> Any:
        built = obj() if callable(obj) and not isinstance(obj, Recipe) else obj
        if not isinstance(built, Recipe):
            raise TypeError(f"register_recipe needs a Recipe, got {type(built).__name__}")
        key = name if name is not None else built.name
        if key != built.name:
            built = built.replace(name=key)
        _RECIPES.add(key, built)
        return obj

    return bare_or_called(recipe, add)


def unregister_recipe(name: str, *, missing_ok: bool = False) -> Recipe | None:
    """Take the recipe registered as ``name`` out of the registry and return it, so that a
    recipe of that name can be registered again.

    An unknown name raises a ``ValueError`` that suggests close matches, or, with
    ``missing_ok=True``, returns ``None``, as :func:`resdepth.models.unregister_model`
    does.

    Examples:
        >>> from resdepth.recipes import get_recipe, register_recipe, unregister_recipe
        >>> _ = register_recipe(get_recipe("as1", epochs=5), name="doc-short")
        >>> unregister_recipe("doc-short").epochs
        5
        >>> unregister_recipe("doc-short", missing_ok=True) is None
        True
    """
    return _RECIPES.remove(name, missing_ok)


def list_recipes(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered recipes that match an fnmatch ``pattern``, or any
    of a list of patterns.

    Examples:
        >>> from resdepth.recipes import list_recipes
        >>> list_recipes("as*")
        ['as1', 'as1-linear', 'as2']
        >>> list_recipes(["as2", "fast"])
        ['as2', 'fast']
    """
    return _RECIPES.names(pattern)


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """The recipe registered as ``name``, with ``overrides`` applied (see :meth:`Recipe.replace`).

    Raises:
        ValueError: for an unknown name (suggesting close matches) or override.

    Examples:
        >>> from resdepth.recipes import get_recipe
        >>> r = get_recipe("as1", epochs=30)
        >>> r.epochs, r.lr, r.scheduler
        (30, 0.1, 'cosine')
    """
    recipe = _RECIPES.get(name)
    return recipe.replace(**overrides) if overrides else recipe


# The built-in recipes: each is built and trained in the tests, so defining them skips
# the dry build of their optimizers (see components.DRY_BUILDS).
with DRY_BUILDS.skipped():
    _AS1 = Recipe(
        name="as1",
        optimizer="sgd",
        optimizer_kwargs={"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
        scheduler="cosine",
        scheduler_interval="epoch",
        epochs=200,
        augment=_FLIP_CROP,
        source=f"{_PAPER}, Assumption Set One (its runs used CosineAnnealingLR(T_max=epochs))",
        description="the paper's AS1: SGD 0.1/0.9/5e-4, cosine over all epochs, flip + crop",
    )
    register_recipe(_AS1)
    register_recipe(
        _AS1.replace(
            name="as1-linear",
            scheduler="linear",
            source=(
                f"{_PAPER}, Assumption Set One as named: the paper calls its scheduler "
                "'LinAnnealLR' but its runs used a cosine; this is a true linear decay to 0"
            ),
            description="AS1 with a true linear decay of the learning rate to 0",
        )
    )
    register_recipe(
        _AS1.replace(
            name="as2",
            optimizer="adam",
            optimizer_kwargs={"lr": 0.1, "weight_decay": 1e-4},
            scheduler="plateau",
            scheduler_kwargs={"mode": "max", "factor": 0.5, "patience": 5},
            monitor="test_accuracy",
            source=f"{_PAPER}, Assumption Set Two",
            description=(
                "the paper's AS2: Adam 0.1/1e-4, ReduceLROnPlateau(max test accuracy, 0.5, 5)"
            ),
        )
    )
    _AFFINE = (
        "RandomAffine",
        {"degrees": 10, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 10},
    )
    register_recipe(
        _AS1.replace(
            name="resnet40-ft",
            epochs=310,
            augment=(*_FLIP_CROP, _AFFINE),
            mixing="cutmix",
            mixing_kwargs={"alpha": 1.0, "p": 0.5, "mode": "batch"},
            source=f"{_PAPER}, ResNet40-FT (Table 2): AS1 + RandomAffine + CutMix, 310 epochs",
            description=(
                "the paper's best: AS1, 310 epochs, + RandomAffine + CutMix (p 0.5 per batch)"
            ),
        )
    )
    _FAST_V1 = Recipe(
        name="fast-v1",
        optimizer="sgd",
        optimizer_kwargs={"lr": 0.4, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True},
        scheduler="warmup_linear",
        scheduler_kwargs={"warmup_epochs": 2, "start_factor": 0.1},
        scheduler_interval="batch",
        epochs=30,
        batch_size=512,
        test_batch_size=1000,
        augment=_FLIP_CROP,
        label_smoothing=0.1,
        source="resdepth (ours, not from the paper): the first version of 'fast', kept as it was",
        description=(
            "ours, version 1 of fast: nesterov SGD 0.4 at batch 512, 2-epoch warm-up then "
            "linear decay per batch, label smoothing 0.1, 30 epochs"
        ),
    )
    register_recipe(_FAST_V1)
    # Version 2, for short runs and time budgets (a few epochs on a CPU): a warm-up of half
    # an epoch, so that a run of 2 or 3 epochs still decays; smaller batches, for more
    # steps in the same time; a weight average with a warm-up of its own; gradient
    # clipping against the spikes of a high rate early on; one evaluation every 5 epochs.
    _FAST_V2 = _FAST_V1.replace(
        name="fast-v2",
        lr=0.2,
        batch_size=256,
        scheduler_kwargs={"warmup_epochs": 0.5, "start_factor": 0.1},
        label_smoothing=0.2,
        ema_decay=0.99,
        clip_grad_norm=5.0,
        eval_every=5,
        source="resdepth (ours, not from the paper): version 2 of 'fast', kept as it was",
        description=(
            "ours, version 2 of fast: nesterov SGD 0.2 at batch 256, half-epoch warm-up then "
            "linear decay per batch, label smoothing 0.2, weight average (decay 0.99), "
            "gradient clipping at 5, evaluation every 5 epochs; 30 epochs"
        ),
    )
    register_recipe(_FAST_V2)
    # Version 3: version 2 with the speedrun's tricks that suit any network (Jordan, 2024):
    # each image flipped every other epoch instead of by chance, a 2-pixel reflect shift
    # in place of the 4-pixel zero-padded crop (less to undo in a run of a few epochs),
    # lookahead toward a slow copy in place of the weight average, and six test-time views.
    register_recipe(
        _FAST_V2.replace(
            name="fast",
            augment=(("RandomCrop", {"size": None, "padding": 2, "padding_mode": "reflect"}),),
            alternating_flip=True,
            ema_decay=None,
            lookahead_every=5,
            test_views="flip_shift",
            source="resdepth (ours, not from the paper), version 3 (fast-v1 and fast-v2 are "
            "the earlier versions)",
            description=(
                "ours: nesterov SGD 0.2 at batch 256, half-epoch warm-up then linear decay per "
                "batch, label smoothing 0.2, alternating flip + 2-pixel reflect shift, "
                "lookahead every 5 steps, gradient clipping at 5, 6 test-time views, "
                "evaluation every 5 epochs; 30 epochs, or as many as --time-budget fits"
            ),
        )
    )
    # airbench94's training (Jordan, 2024) in torch's terms: its loss summed over a batch
    # of 1,024 with lr 11.5 and decoupled weight decay 0.0153 per 1,024 images, at
    # momentum 0.85 (lr divided by 1 + 1 / (1 - 0.85)), is SGD on the mean loss at lr
    # 11.5 / (1 + 1 / 0.15) = 1.5 with weight decay 0.0153 / 11.5; the BatchNorm biases
    # at 64x that rate (and 1/64 the decay).  It keeps the last, smaller batch of each
    # epoch: 10 epochs of 49 batches, 490 steps, against airbench's 476 of 1,024.
    register_recipe(
        Recipe(
            name="airbench94",
            optimizer="sgd",
            optimizer_kwargs={
                "lr": 1.5,
                "momentum": 0.85,
                "nesterov": True,
                "weight_decay": 0.0153 / 11.5,
            },  # fmt: skip
            scheduler="warmup_linear",
            scheduler_kwargs={"warmup_fraction": 0.23, "start_factor": 0.2, "end_factor": 0.07},
            scheduler_interval="batch",
            epochs=10,
            batch_size=1024,
            test_batch_size=2000,
            augment=(("RandomCrop", {"size": None, "padding": 2, "padding_mode": "reflect"}),),
            label_smoothing=0.2,
            mean=(0.4914, 0.4822, 0.4465),
            std=(0.2470, 0.2435, 0.2616),
            norm_bias_lr_scale=64.0,
            lookahead_every=5,
            alternating_flip=True,
            test_views="flip_shift",
            eval_every=10,
            source=(
                "Jordan, 2024, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU (arXiv "
                "2404.00498): airbench94's settings, for the airbench94 network"
            ),
            description=(
                "airbench94: nesterov SGD at batch 1024, warm-up then linear decay per batch, "
                "label smoothing 0.2, BatchNorm biases at 64x the rate, lookahead every 5 "
                "steps, alternating flip + 2-pixel reflect translation, 6 test-time views; "
                "10 epochs"
            ),
        )
    )
    # airbench94 with Muon (Jordan, 2024, airbench94_muon.py): 8 epochs at batch 2,000, the
    # filters by Muon (lr 0.24, momentum 0.6, each bank renormalised), the rest by
    # nesterov SGD (momentum 0.85) on the summed loss at 0.67 for the head and 0.053 for
    # the biases, decoupled decay 2e-6 per image, one linear decay to 0, no lookahead.
    # In torch's terms on the mean loss (x 2,000) and with this network's logits scaled by
    # 1/9 instead of 1/256 (a head rate times (9/256)^2 trains the same function): head
    # lr 1.656, the BatchNorm biases at 64x that, weight decay 0.004 / lr per step.
    _MUON_HEAD_LR = 0.67 * 2000 * (9 / 256) ** 2
    register_recipe(
        get_recipe("airbench94").replace(
            name="airbench94-muon",
            optimizer="muon_sgd",
            optimizer_kwargs={
                "lr": _MUON_HEAD_LR,
                "momentum": 0.85,
                "nesterov": True,
                "weight_decay": 2e-6 * 2000 / _MUON_HEAD_LR,
                "muon_lr": 0.24,
                "muon_momentum": 0.6,
            },  # fmt: skip
            scheduler="linear",  # from its defaults: no warm-up, down to 0
            epochs=8,
            batch_size=2000,
            lookahead_every=None,
            eval_every=8,
            source=(
                "Jordan, 2024, airbench94_muon.py (cifar10-airbench): airbench94 with the "
                "Muon optimizer for the filters, for the airbench94 network"
            ),
            description=(
                "airbench94 with Muon: Muon for the filters, nesterov SGD for the rest at "
                "batch 2000, BatchNorm biases at 64x the rate, linear decay per batch, label "
                "smoothing 0.2, alternating flip + 2-pixel reflect translation, 6 test-time "
                "views; 8 epochs"
            ),
        )
    )
    # Ours, for a CPU: airbench94-muon at batch 1,024, where a CPU trains more images a
    # second than at 2,000 (about 13% more on a 2-core AVX-512 CPU), for the same 8
    # epochs.  The rates on the summed loss and the decay per image stay as
    # airbench94_muon's, so the mean-loss rates halve with the batch; Muon keeps its rate
    # per step (its step has a fixed size whatever the gradient's).  At 7 epochs it
    # reached 90.5% with either 0.24 or 0.24 x sqrt(1024 / 2000) for Muon (1 seed each).
    _SPEEDRUN_BATCH = 1024
    _SPEEDRUN_HEAD_LR = 0.67 * _SPEEDRUN_BATCH * (9 / 256) ** 2
    register_recipe(
        get_recipe("airbench94-muon").replace(
            name="speedrun",
            lr=_SPEEDRUN_HEAD_LR,
            weight_decay=2e-6 * _SPEEDRUN_BATCH / _SPEEDRUN_HEAD_LR,
            batch_size=_SPEEDRUN_BATCH,
            source=(
                "resdepth (ours), version 1: airbench94-muon (Jordan, 2024) at batch 1024 "
                "for a CPU, for the airbench94 network"
            ),
            description=(
                "ours, airbench94-muon at batch 1024: Muon for the filters, nesterov SGD "
                "for the rest, BatchNorm biases at 64x the rate, linear decay per batch, "
                "label smoothing 0.2, alternating flip + 2-pixel reflect translation, 6 "
                "test-time views; 8 epochs"
            ),
        )
    )
    register_recipe(
        _AS1.replace(
            name="cifar-strong",
            augment=(
                *_FLIP_CROP,
                ("TrivialAugmentWide", {}),
                ("RandomErasing", {"p": 0.25, "value": 0.0}),
            ),
            label_smoothing=0.1,
            norm_weight_decay=0.0,
            bias_weight_decay=0.0,
            source=(
                "resdepth (ours, not from the paper): AS1 with the policy augmentations of "
                "torchvision's CIFAR/ImageNet references and no weight decay on normalisation "
                "layers and biases; measured at a short scale only"
            ),
            description=(
                "ours: AS1 + TrivialAugmentWide + RandomErasing (p 0.25) + label smoothing 0.1, "
                "no decay on norms and biases"
            ),
        )
    )


def recipe_measurements(name: str) -> tuple[str, ...]:
    """What was measured of the recipe registered as ``name``, one line an entry of the
    measurements file (:func:`load_measurements`), each with its scale, machine, date,
    load and command; ``()`` where nothing was measured.

    Raises:
        ValueError: for an unknown name (suggesting close matches).

    Examples:
        >>> from resdepth.recipes import recipe_measurements
        >>> recipe_measurements("as1-linear")
        ()
    """
    get_recipe(name)  # an unknown name raises, suggesting close matches
    return tuple(format_measurement(m) for m in load_measurements() if m.recipe == name)
