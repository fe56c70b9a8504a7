"""How much of PyTorch's public API dlcore provides, per namespace.

    python tools/api_coverage.py            # the table
    python tools/api_coverage.py --missing  # and, per namespace, the names dlcore lacks
    python tools/api_coverage.py --json out.json

Needs torch installed (the reference); dlcore never imports it. A name counts as present
when dlcore's namespace has an attribute of that name; whether it behaves like torch's is the
tests' business, not this tool's.

Note [API coverage exclusions]
The public names of a torch namespace are its ``__all__`` where it has one, otherwise its
``dir()`` without underscores, minus submodules and minus what dlcore deliberately does not
cover, each group with its reason:
- TorchScript / JIT / FX / export internals (torch.jit's types and graph classes exported at
  the top level: Graph, Node, ScriptModule, FileCheck, ...): dlcore has its own graph mode.
- quantized tensors and ops (quantize_*, q_*, qscheme, fbgemm_*, ...);
- sparse layouts (sparse_*, to_sparse*, *_csr/_csc/_bsr/_bsc, coalesce, indices, ...);
- complex numbers (complex, real, imag, view_as_real, conj*, angle, polar, ...) and fft;
- named tensors (rename, refine_names, align_to, names, ...);
- backend and device internals (cudnn_*, miopen_*, mkldnn_*, native_*, xpu, mps, mtia,
  vulkan, hip, nested tensors, symbolic shapes Sym*, storage classes and typed storages,
  dispatch keys, deploy/package hooks, torch.library, C++ extension hooks);
- functionalization copies (``view_copy`` and the other ``*_copy`` twins of views), the
  kernels behind modules (``torch.lstm_cell`` behind nn.LSTMCell, ``grid_sampler_2d`` behind
  F.grid_sample, ``batch_norm_stats`` and friends behind SyncBatchNorm, the 4-tuple
  ``torch.embedding_bag`` behind F.embedding_bag), names torch itself removed or only raises for (Tensor.symeig, eig, lstsq,
  solve), typing re-exports and docstring fragments that leak into nn.functional's dir(), and
  torch's TorchData DataPipes;
- DistributedSampler belongs to the distributed work and is counted there.
"""
import argparse
import importlib
import json
import re
import sys
import types

# (label, torch module, dlcore module, whether to use __all__ when present)
NAMESPACES = [
    ("torch", "torch", "dlcore"),
    ("Tensor", "torch.Tensor", "dlcore.Tensor"),
    ("nn", "torch.nn", "dlcore.nn"),
    ("nn.Module", "torch.nn.Module", "dlcore.nn.Module"),
    ("nn.functional", "torch.nn.functional", "dlcore.nn.functional"),
    ("nn.init", "torch.nn.init", "dlcore.nn.init"),
    ("optim", "torch.optim", "dlcore.optim"),
    ("optim.lr_scheduler", "torch.optim.lr_scheduler", "dlcore.optim.lr_scheduler"),
    ("utils.data", "torch.utils.data", "dlcore.utils.data"),
    ("autograd", "torch.autograd", "dlcore.autograd"),
    ("linalg", "torch.linalg", "dlcore.linalg"),
    ("distributions", "torch.distributions", "dlcore.distributions"),
]

# Goals (fraction of the counted names) from the design of the API surface.
GOALS = {"torch": 0.85, "Tensor": 0.85, "nn": 0.95, "nn.Module": 0.95, "nn.functional": 0.95, "nn.init": 0.95, "optim": 0.95,
         "optim.lr_scheduler": 0.95, "utils.data": 0.95, "autograd": 0.95}

_EXCLUDED_PATTERNS = {
    "jit": r"^(Script\w*|Graph\w*|Node|Value|Block|Use|Type|\w+Type|FileCheck|CompilationUnit|Code|"
           r"ConcreteModuleType\w*|ArgumentSpec|CompleteArgumentSpec|Argument|FunctionSchema|Gradient|"
           r"ExecutionPlan|ErrorReport|CallStack|AliasDb|LockingLogger|NoopLogger|AggregationType|"
           r"StaticModule|ThroughputBenchmark|Benchmark\w*|TracingState|JITException|LiteScriptModule|"
           r"Capsule|IODescriptor|InferredType|OperatorInfo|Tag|DeepCopyMemoTable|PyTorchFile\w*|"
           r"ScriptModuleSerializer|SerializationStorageContext|DeserializationStorageContext|"
           r"BufferDict|ModuleDict|ParameterDict|Future|Await|Event|Stream|AVG|SUM|"
           r"cpp|export|fork|wait|import_ir_module\w*|merge_type_from_type_comment|parse_\w+|"
           r"unify_type_list|vitals_enabled|set_vital|read_vital_file|compiled_with_cxx11_abi|"
           r"DisableTorchFunction\w*|DispatchKey\w*|ExcludeDispatchKeyGuard|Sym\w+|sym_\w+|"
           r"cond|while_loop|get_file_path|prepare_multiprocessing_environment|"
           r"BroadcastingList\d|boolean_dispatch|handle_torch_function|assert_int_or_pair|"
           r"Callable|Optional|TYPE_CHECKING|\w+_notes|factory_kwargs|has_torch_function\w*|"
           r"GRID_SAMPLE_\w+|T_destination|dump_patches|call_super_init|"
           r"functional_datapipe|guaranteed_datapipes_determinism|non_deterministic|"
           r"argument_validation|runtime_validation\w*|\w*DataPipe|DataChunk)$",
    "quantized": r"(quantiz|^q_|^qu?int\d|^qscheme$|^fbgemm_|^int_repr$|^dequantize$|fake_quant|^choose_qparams|"
                 r"^fused_moving_avg|^scaled_mm$|^scaled_grouped_mm$|^float4_|^float8)",
    "sparse": r"(sparse|^SparseAdam$|_csr|_csc|_bsr|_bsc|^coalesce$|^is_coalesced$|^indices$|^values$|crow_indices|"
              r"col_indices|row_indices|^smm$|^hspmm$|^hsmm$|^sspaddmm$|^dense_dim$|^sparse_dim$|"
              r"^to_dense$|^saddmm$|^dsmm$|^spmm$|^to_padded_tensor$)",
    "complex": r"(complex|^real$|^imag$|view_as_real|^conj|^resolve_conj$|^resolve_neg$|^is_conj$|^is_neg$|"
               r"^angle$|^polar$|^chalf$|^cfloat$|^cdouble$|^fft|^stft$|^istft$|_window$|^isreal$|"
               r"^adjoint$|^sgn_?$)",
    "named": r"^(rename_?|refine_names|align_to|align_as|align_tensors|names|has_names)$",
    # Copies that exist for functionalization (x.view_copy(...) == x.view(...).clone()), the
    # kernels behind modules (torch.lstm_cell behind nn.LSTMCell), and device/storage plumbing.
    "backend": r"(^cudnn|miopen|mkldnn|^native_|xpu|^mps|mtia|vulkan|^hip$|ipu|xla|^hpu|maia|^nested|"
               r"^(alias|as_strided|detach|diagonal|expand|permute|select|slice|split|split_with_sizes|squeeze|t|"
               r"transpose|unbind|unfold|unsqueeze|values|view|indices|ccol_indices|col_indices|crow_indices|"
               r"row_indices|view_as_real|view_as_complex)_copy$|^batch_norm_(stats|elemt|gather_\w+|"
               r"backward_\w+|update_stats)$|"
               r"^is_nested$|^storage$|^storage_type$|untyped_storage|Storage$|^is_storage$|^is_set_to$|^record_stream$|^is_xla$|^is_ipu$|^is_mps$|"
               r"^rnn_(relu|tanh)(_cell)?$|^(gru|lstm)(_cell)?$|^grid_sampler(_2d|_3d)?$|"
               r"^affine_grid_generator$|^conv_tbc$|^constant_pad_nd$|^convolution$|^embedding_renorm_$|"
               r"^norm_except_dim$|^frobenius_norm$|^nuclear_norm$|^is_distributed$|^slice_inverse$|"
               r"^hash_tensor$|^thread_safe_generator$|^grad_dtype$|^volatile$|^reinforce$|"
               r"^enforce_grad_layout_policy$|^NestedIOFunction$|^map2?_$|^apply_$|^symeig$|^eig$|"
               r"^lstsq$|^solve$|^as_subclass$|^new$|^const_data_ptr$|^nonzero_static$|^grouped_mm$|"
               r"^linear_cross_entropy$|^LinearCrossEntropy\w*$|^Muon$|^Adafactor$|"
               r"^swap_in_optimizer_params_and_state$|^NLLLoss2d$|^Container$|^CrossMapLRN2d$|"
               r"^uint(16|32|64)$|^int[1-7]$|^uint[1-7]$|^bits\w+$|^layout$|^strided$|^sparse_coo$|"
               r"^jagged$|^empty_permuted$|^dim_order$|^module_load$|^DistributedSampler$)",
}


# Names excluded in one namespace only: torch.embedding_bag is the 4-tuple kernel behind
# F.embedding_bag, which is counted.
_EXCLUDED_IN = {"torch": {"embedding_bag": "backend"}}


def excluded(name, namespace=None):
    """The group `name` is excluded under (Note [API coverage exclusions]), or None."""
    if name in _EXCLUDED_IN.get(namespace, {}):
        return _EXCLUDED_IN[namespace][name]
    for group, pattern in _EXCLUDED_PATTERNS.items():
        if re.search(pattern, name):
            return group
    return None


def _resolve(path):
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(".".join(parts[:i + 1]))
            except ImportError:
                return None
    return obj


def public_names(obj):
    names = getattr(obj, "__all__", None) if isinstance(obj, types.ModuleType) else None
    if names is None:
        names = [n for n in dir(obj) if not n.startswith("_")]
    out = []
    for n in sorted(set(names)):
        if n.startswith("_"):
            continue
        value = getattr(obj, n, None)
        if isinstance(value, types.ModuleType):
            continue
        out.append(n)
    return out


def coverage():
    rows = []
    for label, torch_path, dl_path in NAMESPACES:
        ref = _resolve(torch_path)
        ours = _resolve(dl_path)
        names = public_names(ref)
        counted = [n for n in names if excluded(n, label) is None]
        missing = [n for n in counted if ours is None or not hasattr(ours, n)]
        rows.append({"namespace": label, "torch": len(names), "counted": len(counted),
                     "present": len(counted) - len(missing), "missing": missing,
                     "excluded": len(names) - len(counted), "goal": GOALS.get(label)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--missing", action="store_true", help="list the names dlcore lacks")
    parser.add_argument("--json", help="write the rows as JSON to this file")
    args = parser.parse_args(argv)
    rows = coverage()
    print("| namespace | torch names | excluded | counted | dlcore has | coverage | goal |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        share = r["present"] / r["counted"] if r["counted"] else 1.0
        goal = f"{r['goal']:.0%}" if r["goal"] else "-"
        mark = "" if r["goal"] is None or share >= r["goal"] else " (below)"
        print(f"| {r['namespace']} | {r['torch']} | {r['excluded']} | {r['counted']} | {r['present']} | "
              f"{share:.1%}{mark} | {goal} |")
    if args.missing:
        for r in rows:
            if r["missing"]:
                print(f"\n{r['namespace']} lacks {len(r['missing'])}: " + " ".join(r["missing"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
