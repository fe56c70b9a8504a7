"""The ``dlcore`` command (also ``python -m dlcore``):

    dlcore train MODEL [options]   train a model from dlcore.models (lenet: LeNet-5 on the bundled MNIST;
                                   gpt, bert, lstm: language models on the bundled Shakespeare)
    dlcore generate CKPT [options] sample text from a GPT or LSTM checkpoint
    dlcore detect CKPT IMAGE...    run a detector checkpoint on images, draw and print the boxes
    dlcore segment CKPT FILE...    run a segmentation checkpoint on images or NIfTI volumes, write masks
    dlcore eval CKPT [options]     loss and accuracy of a checkpoint on a dataset split
    dlcore summary MODEL           layers, output shapes, parameters and FLOPs of a model

``main(argv)`` returns the exit code: 0 on success, 1 for a failed command (missing file,
checkpoint that does not fit), 2 for bad arguments, 130 when training was interrupted
(Ctrl-C; a checkpoint to resume from is saved). Errors are one line on stderr; set
DLCORE_DEBUG=1 to see the traceback of unexpected ones.
"""
import argparse
import dataclasses
import math
import os
import sys

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: "dlcore train: error: ... (see dlcore train --help)"."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


class _UsageError(Exception):
    pass


def _int_at_least(low, what):
    """An argparse type: an integer >= low, else an error saying ``expected <what>``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "an integer >= 0")


def _seed(text):
    """An argparse type: a seed, an integer in [0, 2**64) (it also seeds numpy's generators)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**64 - 1, got {text!r}")
    return value


def _input_size(text):
    try:
        dims = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        dims = []
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected a shape like 1,28,28, got {text!r}")
    return dims


def build_parser():
    from .train import OPTIMIZERS, SCHEDULERS

    p = _Parser(prog="dlcore", description="Train, evaluate and inspect dlcore models.",
                epilog="Examples: dlcore train lenet | dlcore train mlp --epochs 5 --lr 3e-3 | "
                       "dlcore eval runs/lenet-*/best.safetensors | dlcore summary lenet | "
                       "dlcore train gpt --dataset shakespeare | dlcore generate runs/gpt_mini-*/best.safetensors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model", description=(
        "Train MODEL (a name from dlcore.models) on a dataset. Options left out come from the model's "
        "default recipe (dlcore.cli.train.RECIPES). Writes best/last checkpoints, metrics.json and "
        "curves.png to --out; Ctrl-C saves a checkpoint that --resume continues from."))
    t.add_argument("model", help="model name, e.g. lenet, mlp (dlcore summary lists them on error)")
    t.add_argument("--dataset", default=None,
                   help="mnist (bundled, default for image models) | digits (scikit-learn) | idx:DIR (MNIST-format "
                        "IDX files) | folder:DIR (one sub-folder of images per class) | shakespeare (bundled text, "
                        "default for language models) | shapes (generated boxes, default for detectors) | "
                        "yolo:DIR_OR_YAML (YOLO-format detection data) | shapes2d, spheres3d, streets (generated "
                        "segmentation data, defaults of unet, vnet, letnet) | segfolder:DIR (images/ and masks/, "
                        "PNG or NIfTI)")
    t.add_argument("--epochs", type=_positive_int, help="number of epochs")
    t.add_argument("--batch-size", type=_positive_int, help="training batch size")
    t.add_argument("--lr", type=float, help="learning rate (the peak for --scheduler onecycle)")
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--momentum", type=float, help="momentum of sgd/rmsprop (sgd uses Nesterov momentum)")
    t.add_argument("--weight-decay", type=float, help="L2 penalty (decoupled for adamw)")
    t.add_argument("--scheduler", choices=SCHEDULERS + ("linear", "poly"),
                   help="learning-rate schedule: step (x0.1 every epochs/3), cosine, onecycle (per batch), "
                        "plateau (x0.1 when val accuracy stalls for 2 epochs); linear (detectors); poly "
                        "(segmentation models, per step)")
    t.add_argument("--label-smoothing", type=float, metavar="EPS", help="label smoothing of the training loss")
    t.add_argument("--translate", type=float, metavar="PIXELS",
                   help="augmentation: shift training images randomly by up to PIXELS (0: off)")
    t.add_argument("--rotate", type=float, metavar="DEGREES",
                   help="augmentation: rotate training images randomly by up to DEGREES (0: off)")
    t.add_argument("--scale", type=float, metavar="FRAC",
                   help="augmentation: zoom training images by a random factor in [1 - FRAC, 1 + FRAC] (0: off)")
    t.add_argument("--input-size", type=_positive_int, metavar="SIDE",
                   help="pad (up to 8 px) or resize images to SIDE x SIDE for the model")
    t.add_argument("--out", help="output folder (default: runs/MODEL-TIMESTAMP; with --resume: the checkpoint's)")
    t.add_argument("--resume", metavar="CKPT", help="continue the run saved in CKPT exactly where it stopped")
    t.add_argument("--seed", type=_seed, help="seed of initialisation, shuffling and augmentation (default 0)")
    t.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop when val accuracy has not improved for PATIENCE epochs")
    t.add_argument("--val-split", type=float, metavar="FRAC",
                   help="validation fraction for idx:/folder: datasets without a validation split")
    t.add_argument("--prefetch", "--workers", type=_nonneg_int, dest="prefetch",
                   help="batches the loader's background thread prepares ahead (0: none; default 2)")
    t.add_argument("--device", default=None, help="cpu (default) or cuda")
    t.add_argument("--limit-train", type=_positive_int, metavar="N", help="use the first N training images only")
    t.add_argument("--limit-val", type=_positive_int, metavar="N", help="use the first N validation images only")
    t.add_argument("--limit-test", type=_positive_int, metavar="N", help="use the first N test images only")
    lm = t.add_argument_group("language models (gpt*, bert*, lstm, gru on --dataset shakespeare)")
    lm.add_argument("--max-steps", type=_positive_int, help="optimizer steps of the run")
    lm.add_argument("--block-size", type=_positive_int, help="context length in tokens")
    lm.add_argument("--tokenizer", choices=("char", "byte"), help="characters (default) or UTF-8 bytes")
    lm.add_argument("--warmup", type=_nonneg_int, help="steps of linear learning-rate warm-up before cosine decay")
    lm.add_argument("--dropout", type=float, help="dropout rate of the model")
    lm.add_argument("--eval-interval", type=_positive_int, help="steps between validation evaluations")
    lm.add_argument("--sample-tokens", type=_nonneg_int, help="tokens of the sample printed at the end")
    lm.add_argument("--prompt", help="the text the final sample starts from (default: a newline)")
    det = t.add_argument_group("detectors (yolov8n/s/m/l/x on --dataset shapes or yolo:DIR_OR_YAML)")
    det.add_argument("--lrf", type=float, help="final learning rate as a fraction of --lr (linear/cosine decay)")
    det.add_argument("--warmup-epochs", type=float, help="epochs of learning-rate (and momentum) warm-up "
                     "(detectors and segmentation models)")
    det.add_argument("--close-mosaic", type=_nonneg_int, help="epochs at the end trained without mosaic")
    det.add_argument("--mosaic", type=float, help="probability of a mosaic sample (0: off)")
    det.add_argument("--num-images", type=_positive_int,
                     help="generated datasets (shapes, shapes2d, spheres3d, streets): images generated (split 6:2:2)")
    seg = t.add_argument_group("segmentation models (unet, vnet, letnet on --dataset shapes2d, spheres3d, streets or "
                               "segfolder:DIR)")
    seg.add_argument("--loss", choices=("dice_ce", "ce", "dice", "ohem"),
                     help="training loss: Dice + cross-entropy, cross-entropy, Dice, OHEM cross-entropy")
    seg.add_argument("--base-channels", type=_positive_int, help="unet/vnet: channels of the first level")
    seg.add_argument("--depth", type=_positive_int, help="unet/vnet: down-sampling levels")
    seg.add_argument("--hflip", type=float, metavar="P", help="augmentation: probability of a horizontal flip")
    bar = t.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show the progress bar (default: when stderr is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")

    e = sub.add_parser("eval", help="evaluate a checkpoint", description=(
        "Loss and accuracy of the model in CKPT on a split of its dataset (or of --dataset)."))
    e.add_argument("checkpoint", metavar="CKPT")
    e.add_argument("--dataset", default=None, help="default: the dataset the checkpoint was trained on")
    e.add_argument("--split", choices=("test", "val", "train"), default="test")
    e.add_argument("--model", default=None, help="the model of a bare state-dict file (default: from the checkpoint)")
    e.add_argument("--batch-size", type=_positive_int, default=500)
    e.add_argument("--device", default="cpu")
    e.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate the first N images only")

    d = sub.add_parser("detect", help="detect objects in images with a detector checkpoint", description=(
        "Run the detector in CKPT (written by dlcore train yolov8*) on IMAGE files: prints one row per "
        "detection (x1 y1 x2 y2 score class, in the image's pixels) and with --out writes each image with "
        "its boxes drawn."))
    d.add_argument("checkpoint", metavar="CKPT")
    d.add_argument("images", metavar="IMAGE", nargs="+")
    d.add_argument("--out", default=None, help="folder for the annotated images")
    d.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default 0.25)")
    d.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    d.add_argument("--max-det", type=_positive_int, default=300)
    d.add_argument("--device", default="cpu")

    sg = sub.add_parser("segment", help="segment images or volumes with a segmentation checkpoint", description=(
        "Run the segmentation model in CKPT (written by dlcore train unet|vnet|letnet) on image files (or NIfTI "
        "volumes for vnet): prints the pixels per class and with --out writes <name>_mask.png (class indices in a "
        "palette PNG; <name>_mask.nii.gz for volumes) and <name>_overlay.png."))
    sg.add_argument("checkpoint", metavar="CKPT")
    sg.add_argument("files", metavar="FILE", nargs="+")
    sg.add_argument("--out", default=None, help="folder for the masks and overlays")
    sg.add_argument("--device", default="cpu")

    g = sub.add_parser("generate", help="sample text from a language-model checkpoint", description=(
        "Continue PROMPT with TOKENS tokens sampled from the GPT or LSTM model in CKPT (written by dlcore train)."))
    g.add_argument("checkpoint", metavar="CKPT")
    g.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    g.add_argument("--tokens", type=_positive_int, default=200, help="number of tokens to generate")
    g.add_argument("--temperature", type=float, default=0.8, help="softmax temperature (0: greedy)")
    g.add_argument("--top-k", type=_positive_int, default=None, help="sample among the K most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set reaching P")
    g.add_argument("--seed", type=_seed, default=None, help="seed of the sampling")
    g.add_argument("--device", default="cpu")

    s = sub.add_parser("summary", help="print a model summary", description=(
        "Layers, output shapes, parameter counts and FLOPs of MODEL for one input."))
    s.add_argument("model")
    s.add_argument("--input-size", type=_input_size, default=None, metavar="C,H,W",
                   help="input shape without the batch dimension (default: 1,S,S with S the recipe's input size, "
                        "or 28)")
    s.add_argument("--num-classes", type=_positive_int, default=None,
                   help="output classes (default: the model's own default, e.g. 10 for lenet, 80 for yolov8n)")
    s.add_argument("--depth", type=_nonneg_int, default=3, help="levels of nested modules to list")
    return p


def _known_model(parser, name):
    import dlcore
    names = dlcore.models.list_models()
    if name.lower() not in names:
        parser.error(f"unknown model {name!r}; known models: {', '.join(names)}")


_IMAGE_ONLY = ("epochs", "optimizer", "momentum", "scheduler", "label_smoothing", "translate", "rotate", "scale",
               "input_size", "val_split", "limit_train", "limit_val", "limit_test")
_DETECT_ONLY = ("lrf", "close_mosaic", "mosaic")
_DETECT_SEG = ("warmup_epochs", "num_images")
_SEG_ONLY = ("loss", "base_channels", "depth", "hflip")
_LM_ONLY = ("max_steps", "block_size", "tokenizer", "warmup", "dropout", "eval_interval", "sample_tokens", "prompt")


def _given_options(args, config_class):
    """The options of ``config_class`` given on the command line (the others are left to its
    recipe)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)
            if getattr(args, f.name, None) is not None}


def _cmd_train_lm(args, parser):
    from .lm import LMConfig, train_lm

    for name in _IMAGE_ONLY + _DETECT_ONLY + _DETECT_SEG + _SEG_ONLY:
        if getattr(args, name, None) is not None:
            parser.error(f"--{name.replace('_', '-')} applies to image models, not to language model {args.model!r}")
    given = _given_options(args, LMConfig)
    result = train_lm(LMConfig(**given))
    return 130 if result["status"] == "interrupted" else 0


def _cmd_train_detector(args, parser):
    from .detect import DetectConfig, train_detector

    for name in _LM_ONLY + _SEG_ONLY + ("translate", "rotate", "scale", "label_smoothing"):
        if getattr(args, name, None) is not None:
            parser.error(f"--{name.replace('_', '-')} does not apply to detector {args.model!r}")
    if args.scheduler == "poly":
        parser.error("--scheduler poly applies to segmentation models")
    if args.dataset is not None and args.dataset != "shapes" and not args.dataset.startswith("yolo:"):
        parser.error(f"{args.model!r} is a detector: --dataset must be shapes or yolo:DIR_OR_YAML, "
                     f"got {args.dataset!r}")
    given = _given_options(args, DetectConfig)
    result = train_detector(DetectConfig(**given))
    if result["status"] == "interrupted":
        return 130
    if result["test"] is not None:
        t = result["test"]
        print(f"test mAP@0.5 {t['map_50']:.4f}  mAP@0.5:0.95 {t['map']:.4f}")
    return 0


def _cmd_train_segmenter(args, parser):
    from .segment import SegConfig, train_segmenter

    for name in _LM_ONLY + _DETECT_ONLY + ("translate", "rotate", "label_smoothing"):
        if getattr(args, name, None) is not None:
            parser.error(f"--{name.replace('_', '-')} does not apply to segmentation model {args.model!r}")
    if args.scheduler not in (None, "poly", "cosine", "none"):
        parser.error(f"--scheduler for a segmentation model must be poly, cosine or none, got {args.scheduler!r}")
    if args.optimizer is not None and args.optimizer not in ("adam", "adamw", "sgd", "rmsprop"):
        parser.error(f"--optimizer {args.optimizer!r} does not apply to segmentation models")
    given = _given_options(args, SegConfig)
    result = train_segmenter(SegConfig(**given))
    if result["status"] == "interrupted":
        return 130
    if result["test"] is not None:
        t = result["test"]
        print(f"test mIoU {t['miou']:.4f}  mean Dice {t['mdice']:.4f}  pixel accuracy {t['pixel_acc']:.4f}")
    return 0


def _cmd_segment(args, parser):
    from .segment import segment_files

    results, cfg = segment_files(args.checkpoint, args.files, out=args.out, device=args.device)
    classes = cfg["classes"]
    for path, pred, counts in results:
        total = max(int(counts.sum()), 1)
        shares = "  ".join(f"{c} {100 * n / total:.1f}%" for c, n in zip(classes, counts) if n)
        print(f"{path}: {'x'.join(map(str, pred.shape))}  {shares}")
    if args.out:
        print(f"wrote masks and overlays of {len(results)} file{'s' if len(results) != 1 else ''} to {args.out}")
    return 0


def _cmd_detect(args, parser):
    from .detect import detect_images

    if not 0 <= args.conf <= 1 or not 0 <= args.iou <= 1:
        parser.error(f"--conf and --iou must lie in [0, 1], got {args.conf} and {args.iou}")
    results = detect_images(args.checkpoint, args.images, out=args.out, conf=args.conf, iou=args.iou,
                            max_det=args.max_det, device=args.device)
    from .detect import load_detector
    names = load_detector(args.checkpoint)[1]["names"]
    for path, det in results:
        print(f"{path}: {len(det)} detection{'s' if len(det) != 1 else ''}")
        for x1, y1, x2, y2, score, cls in det:
            k = int(cls)
            print(f"  {x1:8.1f} {y1:8.1f} {x2:8.1f} {y2:8.1f}  {score:.3f}  {k} ({names[k]})")
    if args.out:
        print(f"wrote {len(results)} annotated image{'s' if len(results) != 1 else ''} to {args.out}")
    return 0


def _cmd_train(args, parser):
    from .lm import lm_family
    from .train import TrainConfig, train

    _known_model(parser, args.model)
    if lm_family(args.model) is not None:
        return _cmd_train_lm(args, parser)
    from .detect import is_detector
    if is_detector(args.model):
        return _cmd_train_detector(args, parser)
    from .segment import is_segmenter
    if is_segmenter(args.model):
        return _cmd_train_segmenter(args, parser)
    for name in _DETECT_ONLY + _DETECT_SEG + _SEG_ONLY:
        if getattr(args, name, None) is not None:
            parser.error(f"--{name.replace('_', '-')} applies to detectors, not to {args.model!r}")
    if args.scheduler in ("linear", "poly"):
        parser.error(f"--scheduler {args.scheduler} applies to detectors (linear) and segmentation models (poly)")
    if args.dataset == "shakespeare":
        parser.error(f"shakespeare is a text dataset; {args.model!r} is an image model (language models: gpt, "
                     "bert, lstm)")
    for name in _LM_ONLY:
        if getattr(args, name, None) is not None:
            parser.error(f"--{name.replace('_', '-')} applies to language models, not to image model {args.model!r}")
    # the options given on the command line; TrainConfig's defaults (the recipe) for the rest
    given = _given_options(args, TrainConfig)
    config = TrainConfig(**given)
    result = train(config)
    if result["status"] == "interrupted":
        return 130
    if result["test_acc"] is not None:
        print(f"test accuracy: {100 * result['test_acc']:.2f}%")
    return 0


def _cmd_eval(args, parser):
    from .detect import DETECT_CHECKPOINT_FORMAT, evaluate_detector_checkpoint
    from .lm import LM_CHECKPOINT_FORMAT, evaluate_lm_checkpoint
    from .segment import SEG_CHECKPOINT_FORMAT, evaluate_segmenter_checkpoint, format_scores
    from .train import checkpoint_format, evaluate_checkpoint

    fmt = checkpoint_format(args.checkpoint)  # the file is read once to tell the kinds apart
    if fmt == SEG_CHECKPOINT_FORMAT:
        if args.model is not None:
            parser.error("a segmentation checkpoint names its own model")
        scores, what, _ = evaluate_segmenter_checkpoint(args.checkpoint, dataset=args.dataset, split=args.split,
                                                        device=args.device, limit=args.limit)
        print(f"{what}: " + format_scores(scores))
        return 0

    if fmt == DETECT_CHECKPOINT_FORMAT:
        if args.model is not None:
            parser.error("a detection checkpoint names its own model")
        m, what, cfg = evaluate_detector_checkpoint(args.checkpoint, dataset=args.dataset, split=args.split,
                                                    device=args.device, limit=args.limit)
        print(f"{what}: mAP@0.5 {m['map_50']:.4f}  mAP@0.5:0.95 {m['map']:.4f}  mAP@0.75 {m['map_75']:.4f}  "
              f"precision {m['precision']:.3f}  recall {m['recall']:.3f} (score >= 0.25, IoU 0.5)")
        per_class = m.get("map_per_class")
        if per_class is not None:
            values = per_class.tolist() if hasattr(per_class, "tolist") else list(per_class)
            if isinstance(values, float):
                values = [values]
            for name, v in zip(cfg["names"], values):
                print(f"  {name:<12} mAP@0.5:0.95 {v:.4f}")
        return 0
    if fmt == LM_CHECKPOINT_FORMAT:
        if args.dataset not in (None, "shakespeare") or args.model is not None:
            parser.error("a language-model checkpoint is evaluated on its own text dataset and model")
        loss, what = evaluate_lm_checkpoint(args.checkpoint, "val" if args.split == "test" else args.split,
                                            args.device)
        print(f"{what}: loss {loss:.4f} nats per token ({loss / math.log(2):.3f} bits)")
        return 0
    if args.model is not None:
        _known_model(parser, args.model)
    loss, acc, correct, count, what = evaluate_checkpoint(args.checkpoint, dataset=args.dataset, split=args.split,
                                                          model_name=args.model, batch_size=args.batch_size,
                                                          device=args.device, limit=args.limit)
    print(f"{what}: loss {loss:.4f}  accuracy {100 * acc:.2f}% ({correct}/{count})")
    return 0


def _cmd_generate(args, parser):
    from .lm import generate_from_checkpoint

    if args.temperature < 0:
        parser.error(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        parser.error(f"--top-p must be in (0, 1], got {args.top_p}")
    text = generate_from_checkpoint(args.checkpoint, args.prompt, args.tokens, args.temperature, args.top_k,
                                    args.top_p, args.seed, args.device)
    print(text)
    return 0


def _cmd_summary(args, parser):
    import dlcore

    from .errors import CLIError
    from .train import recipe_for

    _known_model(parser, args.model)
    size = args.input_size
    if size is None:
        side = recipe_for(args.model)["input_size"] or 28
        size = [1, side, side]
    if len(size) != 3:
        parser.error(f"--input-size must be C,H,W for an image model, got {','.join(map(str, size))}")
    try:
        kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
        model = dlcore.models.get_model(args.model, in_channels=size[0], **kwargs)
    except TypeError as e:
        raise CLIError(f"model {args.model!r} can't be built with in_channels={size[0]}: {e}") from None
    if hasattr(dlcore, "summary"):
        try:
            text = dlcore.summary(model, tuple(size), depth=args.depth, verbose=False)
        except Exception as e:  # noqa: BLE001 - a model/input mismatch is a user error here
            raise CLIError(f"model {args.model!r} does not accept inputs of shape {size}: {e}") from None
        print(text)
        return 0
    total = 0
    for name, child in model.named_children():  # without dlcore.summary: counts per top-level module
        n = sum(p.numel() for p in child.parameters())
        total += n
        print(f"{name:<20} {type(child).__name__:<20} {n:>14,}")
    print(f"{'total':<41} {sum(p.numel() for p in model.parameters()):>14,}")
    return 0


def main(argv=None):
    """Runs the command line ``argv`` (default: sys.argv[1:]) and returns the exit code."""
    from .errors import CLIError, one_line

    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help / --version
            return e.code if isinstance(e.code, int) else 0
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        sub = parser._subparsers._group_actions[0].choices[args.command]
        handler = {"train": _cmd_train, "eval": _cmd_eval, "generate": _cmd_generate, "detect": _cmd_detect,
                   "segment": _cmd_segment, "summary": _cmd_summary}[args.command]
        return handler(args, sub)
    except _UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except CLIError as e:
        prog = f"dlcore {args.command}" if "args" in locals() and getattr(args, "command", None) else "dlcore"
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dlcore: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user; DLCORE_DEBUG=1 for the traceback
        if os.environ.get("DLCORE_DEBUG"):
            raise
        print(f"dlcore: error: {type(e).__name__}: {one_line(e)} (DLCORE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1
