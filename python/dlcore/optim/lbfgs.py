"""L-BFGS: limited-memory quasi-Newton steps on the flattened parameters, with an optional
strong-Wolfe line search (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 3.5/3.6)."""
from .. import _C
from .._tensor import zeros
from ..autograd import enable_grad, no_grad
from .optimizer import Optimizer

__all__ = ["LBFGS"]


def _dot(a, b):
    return float((a * b).sum())


def _abs_max(t):
    return float(t.abs().max()) if t.numel() else 0.0


def _cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    ``bounds`` (default: the interval between x1 and x2); the midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc ** 0.5
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


class _Point:
    """One line-search probe: step t, loss f, flat gradient g and directional derivative gtd."""
    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Finds a step t along d satisfying the strong Wolfe conditions: bracketing by extrapolation,
    then zooming by safeguarded cubic interpolation. Returns (loss, flat_grad, t, evaluations)."""
    d_norm = _abs_max(d)
    start = _Point(0.0, f, g.clone(), gtd)
    prev = start
    f_new, g_new = evaluate(t, d)
    evals = 1
    new = _Point(t, f_new, g_new, _dot(g_new, d))
    bracket, done, ls_iter = None, False, 0
    while ls_iter < max_ls:
        if new.f > f + c1 * new.t * gtd or (ls_iter > 1 and new.f >= prev.f):
            bracket = [prev, _Point(new.t, new.f, new.g.clone(), new.gtd)]
            break
        if abs(new.gtd) <= -c2 * gtd:
            bracket, done = [new], True
            break
        if new.gtd >= 0:
            bracket = [prev, _Point(new.t, new.f, new.g.clone(), new.gtd)]
            break
        step = _cubic_minimizer(prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
                                bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev = _Point(new.t, new.f, new.g.clone(), new.gtd)
        f_new, g_new = evaluate(step, d)
        evals += 1
        new = _Point(step, f_new, g_new, _dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = [start, new]
    # zoom: bracket[low] is the best point so far, the minimiser lies between the two points
    insufficient_progress = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and ls_iter < max_ls:
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        step = _cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t_lo, t_hi = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (t_hi - t_lo)
        if min(t_hi - step, step - t_lo) < margin:
            # too close to an end of the bracket: move away from it unless the last step made progress
            if insufficient_progress or step >= t_hi or step <= t_lo:
                step = t_hi - margin if abs(step - t_hi) < abs(step - t_lo) else t_lo + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(step, d)
        evals += 1
        ls_iter += 1
        new = _Point(step, f_new, g_new.clone(), _dot(g_new, d))
        if new.f > f + c1 * step * gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -c2 * gtd:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    best = bracket[low]
    return best.f, best.g, best.t, evals


class LBFGS(Optimizer):
    """torch.optim.LBFGS. ``step(closure)`` needs a closure that clears the gradients, computes
    the loss, calls ``backward()`` and returns the loss; it runs up to ``max_iter`` iterations
    (``max_eval`` closure calls, default ``max_iter * 5 // 4``). One parameter group only. The
    state (of the first parameter, as in torch) holds ``func_evals``, ``n_iter``, the last
    direction ``d`` and step ``t``, the curvature history ``old_dirs``/``old_stps``/``ro``,
    ``H_diag``, ``prev_flat_grad``, ``prev_loss`` and ``al``."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _flat_grad(self):
        parts = [p.grad.reshape(-1) if p.grad is not None else zeros(p.numel(), dtype=p.dtype, device=p.device)
                 for p in self._params]
        return _C.contiguous(_C.cat(parts, 0))

    def _add_to_params(self, t, d):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset:offset + n].reshape(list(p.shape)), alpha=t)
            offset += n

    def _evaluate_at(self, closure, x, t, d):
        """Loss and flat gradient at x + t * d; the parameters are restored to x afterwards."""
        self._add_to_params(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for p, v in zip(self._params, x):
            p.copy_(v)
        return loss, flat_grad

    def step(self, closure):
        """Runs the L-BFGS iterations; returns the closure's loss at the starting point."""
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that re-evaluates the model and returns the loss")
        with no_grad():
            return self._run(closure)

    def _run(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if _abs_max(flat_grad) <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                d, h_diag = self._direction(state, flat_grad, prev_flat_grad, d, float(t), old_dirs, old_stps, ro,
                                            float(h_diag), history_size)
            prev_flat_grad = _C.clone(flat_grad)
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(flat_grad.abs().sum())) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)
            if gtd > -tolerance_change:
                break

            evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x = [_C.clone(p.detach()) for p in self._params]
                loss, flat_grad, t, evals = _strong_wolfe(
                    lambda step, direction: self._evaluate_at(closure, x, step, direction), t, d, loss, flat_grad,
                    gtd)
                self._add_to_params(t, d)
                converged = _abs_max(flat_grad) <= tolerance_grad
            else:
                self._add_to_params(t, d)
                converged = False
                if n_iter != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    converged = _abs_max(flat_grad) <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval or converged:
                break
            if _abs_max(d) * abs(t) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _direction(state, flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, h_diag, history_size):
        """Updates the curvature history with the last step and returns (-H g, H_diag) by the
        two-loop recursion."""
        y = flat_grad - prev_flat_grad
        s = d * t
        ys = _dot(y, s)
        if ys > 1e-10:  # keep the pair only when the curvature condition holds
            if len(old_dirs) == history_size:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            h_diag = ys / _dot(y, y)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = _dot(old_stps[i], q) * ro[i]
            q.add_(old_dirs[i], alpha=-al[i])
        r = q * h_diag
        for i in range(len(old_dirs)):
            beta = _dot(old_dirs[i], r) * ro[i]
            r.add_(old_stps[i], alpha=al[i] - beta)
        return r, h_diag
