"""`python -m training {train,evaluate,export-feedback,pretrain,pretrain-lm,explain,data}`: the training commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from training import download, explain
from training.data import NEUTRAL_BAND, DataError, Example, ReadOptions, detect_format, iter_imdb, read_dataset

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_VECTORS = PRETRAINED / "word2vec-imdb-128"
DEFAULT_LM = PRETRAINED / "lm-imdb-128"
DEFAULT_REPLAY_FROM = ("data", str(Path("..") / "shared" / "data"))
# Training from scratch on ~80k texts, and fine-tuning an artifact on a few hundred (measured in
# BENCHMARKS.md, "Fine-tuning from an artifact"): a flag left unset takes the value for its case.
FRESH = {"epochs": 4, "batch_size": 64, "lr": 2e-3, "patience": 2, "encoder_lr_scale": 1.0}
FINE_TUNE = {"epochs": 8, "batch_size": 32, "lr": 1e-3, "patience": 3, "encoder_lr_scale": 0.3}


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """`--help` shows every option's default, as argparse's ArgumentDefaultsHelpFormatter does.

    Unlike it: an option whose help already states its default (one that differs with
    --init-from, or is worked out at run time) keeps its own words; an option unset by default
    says "none"; on/off flags (off unless given) and required options show no default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or action.required
            or "default:" in text
            or "%(default)" in text
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
        ):
            return action.help
        if default is None or (isinstance(default, list | dict | tuple) and not default):
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose --help shows defaults; its subcommands' parsers are Parsers too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def _label_map(value: str) -> dict[str, str]:
    pairs = [p for p in value.split(",") if p]
    try:
        mapping = dict(p.split("=", 1) for p in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError("expected RAW=NAME[,RAW=NAME...], e.g. 0=negative,1=positive") from None
    if not mapping or any(not k or not v for k, v in mapping.items()):
        raise argparse.ArgumentTypeError("expected RAW=NAME[,RAW=NAME...], e.g. 0=negative,1=positive")
    return mapping


def _language(value: str) -> str:
    from model.config import LANGUAGE_CODE

    if not LANGUAGE_CODE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a lower-case ISO 639 code such as en or zh")
    return value


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="PATH",
        help="dataset: aclImdb folder or .tar.gz, .csv, .tsv, .jsonl, or the service's log database URL "
        "(sqlite:///..., postgresql+psycopg://...) for its feedback (repeat to combine)",
    )
    parser.add_argument(
        "--text-column", help="column/key holding the text (default: text, sentence, review or content)"
    )
    parser.add_argument("--label-column", help="column/key holding the label (default: label, sentiment or polarity)")
    parser.add_argument(
        "--label-map",
        type=_label_map,
        default={},
        help="rename raw labels, e.g. 0=negative,1=positive (SST-2); unmapped labels are bad rows",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip and count bad rows instead of stopping at the first"
    )
    parser.add_argument(
        "--rating-column",
        help="graded rows: column/key holding a signed human rating (default: mean_rating or rating, "
        "when no label column is present); the label comes from rating / --rating-scale and --neutral-band",
    )
    parser.add_argument(
        "--rating-scale", type=float, default=4.0, help="ratings run from -scale to +scale (VADER's corpora: 4)"
    )
    parser.add_argument(
        "--neutral-band",
        type=float,
        default=NEUTRAL_BAND,
        help="|rating / scale| below this is neutral (Hutto & Gilbert 2014)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m training", description="Train, evaluate and pre-train the sentiment model.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model and export its artifact directory")
    _add_data_options(train)
    train.add_argument("--out", required=True, help="artifact directory to write")
    train.add_argument(
        "--init-from",
        metavar="ARTIFACT",
        default=None,
        help="fine-tune this artifact (e.g. model/default): start from its weights, vocabulary and labels; "
        "new words and labels of the data are added; its network settings win over the flags below",
    )
    train.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"maximum epochs, early stopping may end sooner (default: {FRESH['epochs']}; "
        f"with --init-from: {FINE_TUNE['epochs']})",
    )
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"texts per training step (default: {FRESH['batch_size']}; with --init-from: {FINE_TUNE['batch_size']})",
    )
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"peak learning rate for AdamW (default: {FRESH['lr']}; with --init-from: {FINE_TUNE['lr']})",
    )
    train.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    train.add_argument(
        "--patience",
        type=int,
        default=None,
        help="epochs without validation gain before stopping "
        f"(default: {FRESH['patience']}; with --init-from: {FINE_TUNE['patience']})",
    )
    train.add_argument(
        "--tie-break",
        choices=["loss", "later"],
        default="loss",
        help="equal validation scores: keep the epoch with the lower validation loss, or the later epoch",
    )
    train.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of the training data held out for validation"
    )
    train.add_argument("--seed", type=int, default=13, help="seed for the split, the batches and the initial weights")
    train.add_argument(
        "--init-seed",
        type=int,
        default=None,
        help="seed only the initial weights, dropout and batch order (default: --seed): "
        "another run on the same split, to see how much a result moves from run to run",
    )
    train.add_argument(
        "--vocab-size", type=int, default=40_000, help="largest vocabulary (padding and unknown included)"
    )
    train.add_argument(
        "--min-freq", type=int, default=2, help="a token needs this many occurrences to enter the vocabulary"
    )
    train.add_argument("--embedding-dim", type=int, default=128, help="embedding size E")
    train.add_argument("--hidden-size", type=int, default=128, help="LSTM hidden size H per direction")
    train.add_argument("--layers", type=int, default=1, help="stacked BiLSTM layers")
    train.add_argument("--dropout", type=float, default=0.2, help="dropout before the output layer")
    train.add_argument("--embedding-dropout", type=float, default=0.1, help="share of words dropped while training")
    train.add_argument("--max-tokens", type=int, default=600, help="longest text read; longer ones keep head and tail")
    train.add_argument("--head-tokens", type=int, default=150, help="tokens kept from the start of a truncated text")
    train.add_argument(
        "--average-last", type=int, default=1, help="average the best epoch's weights with the N-1 before it"
    )
    train.add_argument(
        "--init-vectors",
        default=None,
        help=(
            "pre-trained directory: word vectors (pretrain) or embedding + LSTMs (pretrain-lm); 'none' for random "
            f"init (default: {DEFAULT_VECTORS.name} if present; LM init measured worse, see BENCHMARKS.md)"
        ),
    )
    train.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    train.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda when there is one)")
    train.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="forward passes in bf16 under autocast, weights, optimiser and losses fp32; auto = bf16 where the "
        "device has bf16 instructions (CPU: AVX-512 bf16 or AMX; CUDA), else fp32",
    )
    train.add_argument(
        "--freeze-epochs", type=int, default=0, help="train only the output layer for this many epochs first"
    )
    train.add_argument(
        "--encoder-lr-scale",
        type=float,
        default=None,
        help="embedding and LSTM learning rate = --lr times this "
        f"(default: {FRESH['encoder_lr_scale']}; with --init-from: {FINE_TUNE['encoder_lr_scale']})",
    )
    train.add_argument(
        "--tokenizer",
        metavar="NAME",
        default=None,
        help="how text becomes tokens, recorded in the artifact: regex-word-v1 (English word rules), social-v1 "
        "(tweets: emoticons, <url>, <user>, hashtags, <caps>, <elong>), cjk-v1 (Chinese, Japanese, Korean, Thai: "
        "characters and their bigrams); see model/tokenizers/ "
        "(default: regex-word-v1; with --init-from: the artifact's, and another one grows its vocabulary)",
    )
    train.add_argument(
        "--language",
        metavar="CODE",
        type=_language,
        default=None,
        help="the ISO 639-1 code of the language the model reads (en, zh, ...), recorded in the artifact: a service "
        "serving several models routes each text to the one of its language (default: with --init-from the "
        "artifact's; else none stated, and the service gives the model any text)",
    )
    train.add_argument(
        "--max-new-words",
        type=int,
        default=10_000,
        help="with --init-from: at most this many new words of the data join the vocabulary",
    )
    train.add_argument(
        "--new-word-init",
        choices=["unk", "random", "vectors"],
        default="unk",
        help="with --init-from: new words start as the artifact's unknown word (unk), at random, or from "
        "--init-vectors mapped into the artifact's embedding space (vectors)",
    )
    train.add_argument(
        "--replay",
        type=int,
        default=None,
        metavar="N",
        help="with --init-from: mix in N rows of the artifact's own training data (found by checksum in "
        "--replay-from) and report its original validation accuracy before and after (0: only report)",
    )
    train.add_argument(
        "--replay-from",
        action="append",
        default=None,
        metavar="PATH",
        help="files or folders holding the artifact's training data (repeat; default: data and ../shared/data)",
    )
    train.add_argument(
        "--replay-val-max",
        type=int,
        default=0,
        help="with --replay: original validation rows scored per source (0: all)",
    )
    train.add_argument(
        "--no-replay-distill",
        dest="replay_distill",
        action="store_false",
        help="replayed rows learn their labels only, not also the artifact's own answers (learning without forgetting)",
    )
    train.add_argument(
        "--polarity-head",
        choices=["auto", "on", "off"],
        default="auto",
        help="a second head trained on the graded rows' ratings, answering `polarity` in [-1, 1] "
        "(auto: when some rows are graded; without one, polarity is p(positive) - p(negative))",
    )
    train.add_argument("--polarity-weight", type=float, default=1.0, help="weight of the polarity head's squared error")
    train.add_argument(
        "--label-weights",
        choices=["none", "balanced"],
        default="none",
        help="balanced: weight the cross-entropy by inverse label frequency",
    )
    train.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="skip fitting per-label logit offsets on validation",
    )
    train.add_argument("--dry-run", action="store_true", help="run one batch and one validation batch, then export")
    train.add_argument("--transfer", default=None, help="transfer set (from transfer-set) to distil the teacher over")
    train.add_argument(
        "--teacher-logits", default=None, help="the teacher's logits on --transfer (from teacher-logits)"
    )
    train.add_argument(
        "--transfer-kinds",
        default="labelled,augmented,unlabelled_sentence,unlabelled_review",
        help="which transfer rows to use: labelled (soft labels joined to hard ones), augmented, "
        "unlabelled_sentence, unlabelled_review (comma list)",
    )
    train.add_argument("--distill-loss", choices=["mse", "kl"], default="mse", help="mse on logits (Tang) or kl")
    train.add_argument(
        "--distill-alpha", type=float, default=0.5, help="teacher weight on rows that also have a hard label"
    )
    train.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the kl loss")

    evaluate = commands.add_parser(
        "evaluate", help="score an artifact on labelled data; JSON to stdout, report beside it"
    )
    _add_data_options(evaluate)
    evaluate.add_argument("--model", default=None, help="artifact directory (default: the shipped model)")
    evaluate.add_argument("--split", choices=["train", "test"], default="test", help="which IMDB split to read")
    evaluate.add_argument(
        "--rows",
        choices=["auto", "held-out", "all"],
        default="auto",
        help="data the artifact was trained on (recognised by its rows' checksum in metrics.json): auto and "
        "held-out score only the rows it held out for validation (its split, reproduced), all scores every row; "
        "where a training file cannot be split so, auto scores every row with a warning and held-out refuses",
    )
    evaluate.add_argument("--report-dir", default=None, help="where the PNGs and report.md go (default: MODEL/report)")
    evaluate.add_argument(
        "--record", metavar="NAME", help="also store the result in the artifact's metrics.json under NAME"
    )

    export = commands.add_parser(
        "export-feedback", help="write the log database's feedback as JSONL (text, corrected label) for training"
    )
    export.add_argument(
        "--database", required=True, help="the service's SENTIMENT_DATABASE_URL, e.g. sqlite:///data/requests.db"
    )
    export.add_argument("--out", required=True, help="JSONL file to write ({text, label, source} per line)")
    export.add_argument(
        "--no-mark",
        action="store_true",
        help="leave feedback.exported_at unset (by default the exported rows are marked, and the service's "
        "log retention, SENTIMENT_LOG_RETENTION_DAYS, may then delete their log rows)",
    )

    pretrain = commands.add_parser(
        "pretrain", help="pre-train word2vec vectors on unlabelled + labelled text (one time)"
    )
    pretrain.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz (train pos/neg/unsup are read)")
    pretrain.add_argument("--extra", action="append", default=[], help="more .tsv/.csv/.jsonl text to include")
    pretrain.add_argument("--out", default=str(DEFAULT_VECTORS), help="directory for the vectors")
    pretrain.add_argument("--dim", type=int, default=128, help="vector size (= the model's embedding size)")
    pretrain.add_argument("--epochs", type=int, default=5, help="word2vec passes over the text")
    pretrain.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="word2vec worker threads")
    pretrain.add_argument("--tokenizer", default="regex-word-v1", help="tokenizer of the models that will load them")

    lm = commands.add_parser(
        "pretrain-lm",
        help="pre-train the embedding and both LSTMs as language models on unlabelled + labelled text (one time)",
    )
    lm.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz (train pos/neg/unsup are read)")
    lm.add_argument("--extra", action="append", default=[], help="more .tsv/.csv/.jsonl text to include")
    lm.add_argument("--out", default=str(DEFAULT_LM), help="directory for the pre-trained weights")
    lm.add_argument("--embedding-dim", type=int, default=128, help="embedding size (= the model's)")
    lm.add_argument("--hidden-size", type=int, default=128, help="LSTM hidden size (= the model's)")
    lm.add_argument("--vocab-size", type=int, default=40_000, help="largest vocabulary")
    lm.add_argument("--epochs", type=int, default=10, help="passes over the text")
    lm.add_argument("--batch-size", type=int, default=64, help="text pieces per step")
    lm.add_argument("--lr", type=float, default=2e-3, help="peak learning rate for AdamW")
    lm.add_argument("--chunk-tokens", type=int, default=400, help="longer texts are cut into pieces this long")
    lm.add_argument("--max-texts", type=int, default=0, help="use only the first N texts (0 = all), for a quick run")
    lm.add_argument("--max-minutes", type=float, default=0.0, help="stop after this long and keep the best epoch")
    lm.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when there is one)")
    lm.add_argument("--tokenizer", default="regex-word-v1", help="tokenizer of the models that will load them")
    lm.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes that tokenise")
    _add_teacher_parsers(commands)
    explain.add_parser(commands)
    download.add_parser(commands)
    return parser


def _add_split_options(parser: argparse.ArgumentParser, seed_also: str = "") -> None:
    """--val-fraction and --seed: a distillation stage must split the data as the student will."""
    parser.add_argument("--val-fraction", type=float, default=0.1, help="as the student's (same split)")
    parser.add_argument("--seed", type=int, default=13, help=f"as the student's (same split){seed_also}")


def _add_teacher_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    teacher = commands.add_parser(
        "teacher-train", help="fine-tune the transformer teacher on the training split (the `teacher` extra)"
    )
    _add_data_options(teacher)
    teacher.add_argument("--out", required=True, help="directory for the teacher (resumes from its checkpoint)")
    teacher.add_argument("--encoder", default=None, help="local Hugging Face checkpoint (default: all-MiniLM-L6-v2)")
    teacher.add_argument("--epochs", type=float, default=1.0, help="passes over the training split (0.5 = half)")
    teacher.add_argument("--batch-size", type=int, default=32, help="texts per step")
    teacher.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (linear warm-up and decay)")
    teacher.add_argument("--max-length", type=int, default=128, help="word pieces per text")
    teacher.add_argument(
        "--max-train-per-source", type=int, default=0, help="train on a seeded sample of N texts per source (0 = all)"
    )
    _add_split_options(teacher)
    teacher.add_argument("--checkpoint-every", type=int, default=200, help="steps between resumable checkpoints")
    teacher.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when there is one)")
    teacher.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")

    transfer = commands.add_parser(
        "transfer-set", help="write the distillation transfer set: augmented training sentences + unlabelled text"
    )
    _add_data_options(transfer)
    transfer.add_argument("--out", required=True, help="JSONL to write (its manifest .json goes beside it)")
    transfer.add_argument("--unlabelled", default=None, help="aclImdb folder or .tar.gz whose train/unsup is read")
    transfer.add_argument("--unlabelled-sentences", type=int, default=0, help="sentences sampled from it")
    transfer.add_argument("--unlabelled-reviews", type=int, default=0, help="whole reviews sampled from it")
    transfer.add_argument("--variants", type=int, default=20, help="augmentation tries per training sentence")
    transfer.add_argument("--p-mask", type=float, default=0.1, help="chance a word is masked")
    transfer.add_argument("--p-replace", type=float, default=0.1, help="chance a word becomes a word2vec neighbour")
    transfer.add_argument("--p-ngram", type=float, default=0.25, help="chance only an n-gram (n<=5) is kept")
    transfer.add_argument(
        "--labelled-max-words", type=int, default=64, help="labelled training texts up to this long get soft labels"
    )
    transfer.add_argument("--vectors", default=str(DEFAULT_VECTORS), help="word vectors for the neighbours")
    _add_split_options(transfer, seed_also="; seeds the variants")

    check = commands.add_parser(
        "teacher-evaluate", help="score the teacher on the validation split of any data (as the student's)"
    )
    _add_data_options(check)
    check.add_argument("--teacher", required=True, help="directory written by teacher-train")
    check.add_argument("--max-length", type=int, default=256, help="word pieces per text (reviews keep their head)")
    _add_split_options(check)
    check.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when there is one)")

    logits = commands.add_parser("teacher-logits", help="cache the teacher's logits on a transfer set")
    logits.add_argument("--teacher", required=True, help="directory written by teacher-train")
    logits.add_argument("--transfer", required=True, help="JSONL written by transfer-set")
    logits.add_argument("--out", required=True, help="safetensors file to write")
    logits.add_argument("--batch-size", type=int, default=128, help="texts per forward pass")
    logits.add_argument("--max-length", type=int, default=128, help="word pieces per text")
    logits.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when there is one)")
    logits.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    logits.add_argument(
        "--reuse",
        nargs=2,
        metavar=("LOGITS", "TRANSFER"),
        default=None,
        help="an earlier cache of the same teacher and the transfer set it was made on: "
        "rows with the same text are copied from it instead of scored",
    )


def _read_parts(args: argparse.Namespace, split: str) -> tuple[list[tuple[str, list[Example]]], ReadOptions]:
    """Each --data as given, with the rows read from it."""
    options = ReadOptions(
        args.text_column,
        args.label_column,
        args.label_map,
        args.skip_bad,
        rating_column=args.rating_column,
        rating_scale=args.rating_scale,
        neutral_band=args.neutral_band,
    )
    if args.rating_scale <= 0 or not 0 <= args.neutral_band < 1:
        raise DataError("--rating-scale must be positive and --neutral-band in [0, 1)")
    parts = [(path, read_dataset(path, split=split, options=options)) for path in args.data]
    if options.skipped:
        print(f"skipped {len(options.skipped)} bad rows; first: {options.skipped[0]}", file=sys.stderr)
    for note in options.notes:
        print(note, file=sys.stderr)
    return parts, options


def _read_all(args: argparse.Namespace, split: str) -> tuple[list[Example], ReadOptions]:
    parts, options = _read_parts(args, split)
    return [e for _, rows in parts for e in rows], options


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "pretrain-lm":
            return _pretrain_lm(args)
        if args.command == "explain":
            return explain.run(args)
        if args.command == "data":
            return download.run(args)
        if args.command == "export-feedback":
            return _export_feedback(args)
        if args.command == "teacher-train":
            return _teacher_train(args)
        if args.command == "transfer-set":
            return _transfer_set(args)
        if args.command == "teacher-logits":
            return _teacher_logits(args)
        if args.command == "teacher-evaluate":
            return _teacher_evaluate(args)
        return _pretrain(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace) -> int:
    from training.train import TrainSettings, train

    examples, _ = _read_all(args, "train")
    defaults = FINE_TUNE if args.init_from else FRESH
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    vectors = args.init_vectors
    if vectors is None and DEFAULT_VECTORS.is_dir():
        vectors = str(DEFAULT_VECTORS)
    if vectors == "none":
        vectors = None
    elif vectors is not None and not Path(vectors).is_dir():
        raise DataError(f"{vectors}: no such vectors directory")
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        val_fraction=args.val_fraction,
        seed=args.seed,
        init_seed=args.init_seed,
        vocab_size=args.vocab_size,
        min_freq=args.min_freq,
        average_last=args.average_last,
        threads=args.threads,
        dry_run=args.dry_run,
        init_vectors=vectors,
        device=args.device,
        precision=args.precision,
        freeze_epochs=args.freeze_epochs,
        encoder_lr_scale=args.encoder_lr_scale,
        calibrate=args.calibrate,
        transfer=args.transfer,
        teacher_logits=args.teacher_logits,
        transfer_kinds=tuple(k for k in args.transfer_kinds.split(",") if k),
        distill_loss=args.distill_loss,
        distill_alpha=args.distill_alpha,
        temperature=args.temperature,
        tie_break=args.tie_break,
        init_from=args.init_from,
        max_new_words=args.max_new_words,
        new_word_init=args.new_word_init,
        replay=args.replay,
        replay_from=tuple(args.replay_from or DEFAULT_REPLAY_FROM),
        replay_val_max=args.replay_val_max,
        replay_distill=args.replay_distill,
        polarity_head=args.polarity_head,
        polarity_weight=args.polarity_weight,
        label_weights=args.label_weights,
        tokenizer=args.tokenizer,
        language=args.language,
        model={
            "embedding_dim": args.embedding_dim,
            "hidden_size": args.hidden_size,
            "num_layers": args.layers,
            "dropout": args.dropout,
            "embedding_dropout": args.embedding_dropout,
            "max_tokens": args.max_tokens,
            "head_tokens": args.head_tokens,
        },
    )
    read = {
        "label_map": args.label_map,
        "text_column": args.text_column,
        "label_column": args.label_column,
        "rating_column": args.rating_column,
        "rating_scale": args.rating_scale if args.rating_scale != 4.0 else None,
        "neutral_band": args.neutral_band if args.neutral_band != NEUTRAL_BAND else None,
    }
    metrics = train(examples, args.out, settings, data_names=args.data, data_read=read)
    if "version" not in metrics:  # a torchrun process other than rank 0: rank 0 reports
        return 0
    summary = {k: metrics[k] for k in ("version", "best_epoch", "training_time_s", "train_examples", "val_examples")}
    summary["validation_accuracy"] = metrics["validation"]["accuracy"]
    summary["validation_accuracy_by_source"] = metrics["validation"]["accuracy_by_source"]
    if metrics.get("init_from"):
        summary["init_from"] = metrics["init_from"]
    if metrics.get("replay"):
        replay = metrics["replay"]
        summary["original_validation"] = {
            "before": replay["original_val_before"]["accuracy_by_source"],
            "after": replay["original_val_after"]["accuracy_by_source"],
            "rows": replay["original_val_rows"],
        }
    print(json.dumps({"artifact": str(args.out), **summary}, indent=2))
    return 0


def _teacher_train(args: argparse.Namespace) -> int:
    from training.teacher import TeacherError, TeacherSettings, train_teacher

    examples, _ = _read_all(args, "train")
    settings = TeacherSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        val_fraction=args.val_fraction,
        seed=args.seed,
        max_train_per_source=args.max_train_per_source,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        threads=args.threads,
    )
    try:
        metrics = train_teacher(examples, args.out, settings, encoder_dir=args.encoder, data_names=args.data)
    except TeacherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = ("validation", "train_examples", "steps", "train_seconds", "device")
    print(json.dumps({"teacher": str(args.out), **{k: metrics[k] for k in keys}}, indent=2))
    return 0


def _transfer_set(args: argparse.Namespace) -> int:
    from training.augment import AugmentSettings
    from training.distill import build_transfer_set

    examples, _ = _read_all(args, "train")
    if not Path(args.vectors).is_dir():
        raise DataError(f"{args.vectors}: no such vectors directory (make it with `python -m training pretrain`)")
    settings = AugmentSettings(
        variants=args.variants, p_mask=args.p_mask, p_replace=args.p_replace, p_ngram=args.p_ngram, seed=args.seed
    )
    manifest = build_transfer_set(
        examples,
        args.out,
        vectors=args.vectors,
        settings=settings,
        val_fraction=args.val_fraction,
        seed=args.seed,
        unlabelled=args.unlabelled,
        unlabelled_sentences=args.unlabelled_sentences,
        unlabelled_reviews=args.unlabelled_reviews,
        labelled_max_words=args.labelled_max_words,
    )
    keys = ("file", "sha256", "rows", "rows_by_kind", "words", "seconds")
    print(json.dumps({k: manifest[k] for k in keys}, indent=2))
    return 0


def _teacher_evaluate(args: argparse.Namespace) -> int:
    from training.splits import split_examples
    from training.teacher import TeacherError, TeacherSettings, evaluate, load_teacher

    examples, _ = _read_all(args, "train")
    _, val, _ = split_examples(examples, args.val_fraction, args.seed)
    try:
        encoder, _ = load_teacher(args.teacher, args.device)
    except TeacherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = evaluate(encoder, val, TeacherSettings(max_length=args.max_length))
    print(json.dumps({"teacher": str(args.teacher), "max_length": args.max_length, **result}, indent=2))
    return 0


def _teacher_logits(args: argparse.Namespace) -> int:
    from training.distill import CacheError
    from training.teacher import TeacherError, score_transfer

    try:
        info = score_transfer(
            args.teacher,
            args.transfer,
            args.out,
            device=args.device,
            batch_size=args.batch_size,
            max_length=args.max_length,
            threads=args.threads,
            reuse=tuple(args.reuse) if args.reuse else None,
        )
    except (TeacherError, CacheError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    parts, _ = _read_parts(args, args.split)
    result = evaluate(
        parts,
        model_dir=args.model,
        report_dir=args.report_dir,
        record=args.record,
        rows=args.rows,
        imdb_split=args.split,
    )
    print(json.dumps(result, indent=2))
    return 0


def _export_feedback(args: argparse.Namespace) -> int:
    from training.feedback import mark_exported, read_feedback_rows

    rows, unlogged = read_feedback_rows(args.database)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for _, example in rows:
            handle.write(json.dumps({"text": example.text, "label": example.label, "source": example.source}) + "\n")
    if not args.no_mark:  # written: the service's log retention may delete these rows now
        mark_exported(args.database, [i for i, _ in rows])
    if unlogged:
        print(f"skipped {unlogged} feedback rows whose text was not logged (hash/none mode)", file=sys.stderr)
    print(json.dumps({"out": str(out), "exported": len(rows), "skipped_no_text": unlogged}))
    return 0


def _unlabelled_texts(args: argparse.Namespace) -> list[str]:
    """The training reviews of every kind (never the test set) and the --extra files' texts."""
    path = Path(args.imdb)
    if detect_format(path) != "imdb":
        raise DataError(f"{path}: --imdb takes an aclImdb folder or .tar.gz")
    texts = [t for _, t in iter_imdb(path, split="train", kinds=("pos", "neg", "unsup"))]
    for extra in args.extra:
        texts.extend(e.text for e in read_dataset(extra, options=ReadOptions(skip_bad=True)))
    return texts


def _tokenize_all(texts: list[str], workers: int, tokenizer: str) -> list[list[str]]:
    from multiprocessing import Pool

    from tqdm import tqdm

    from model.tokenizers import get_tokenizer

    tokenize = get_tokenizer(tokenizer).tokenize

    if workers <= 1:
        return [tokenize(t) for t in tqdm(texts, desc="tokenise")]
    with Pool(workers) as pool:
        return list(tqdm(pool.imap(tokenize, texts, chunksize=256), total=len(texts), desc="tokenise"))


def _pretrain(args: argparse.Namespace) -> int:
    from training.vectors import pretrain_word2vec

    sentences = _tokenize_all(_unlabelled_texts(args), args.workers, args.tokenizer)
    info = pretrain_word2vec(sentences, args.out, dim=args.dim, epochs=args.epochs, workers=args.workers)
    print(json.dumps({"out": args.out, "tokenizer": args.tokenizer, **info}, indent=2))
    return 0


def _pretrain_lm(args: argparse.Namespace) -> int:
    from training.lm import LMSettings, pretrain_lm

    texts = _unlabelled_texts(args)
    if args.max_texts > 0:
        texts = texts[: args.max_texts]
    settings = LMSettings(
        embedding_dim=args.embedding_dim,
        hidden_size=args.hidden_size,
        vocab_size=args.vocab_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        chunk_tokens=args.chunk_tokens,
        max_minutes=args.max_minutes,
        device=args.device,
    )
    info = pretrain_lm(_tokenize_all(texts, args.workers, args.tokenizer), args.out, settings)
    info.pop("history")
    print(json.dumps({"out": args.out, "tokenizer": args.tokenizer, **info}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
