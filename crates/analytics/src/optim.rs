//! Small unconstrained minimisers for the likelihood fits: BFGS with an analytic gradient
//! and a backtracking line search, and Nelder–Mead for when no gradient is at hand (or
//! BFGS stalls). The models minimise over the logarithms of their parameters, so every
//! point of R^n is a valid parameter set and no bounds are needed.

/// When a minimiser stops.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Iterations at most (BFGS steps, or Nelder–Mead moves).
    pub max_iterations: usize,
    /// BFGS: converged when every component of the gradient is below this.
    pub gradient_tolerance: f64,
    /// Converged when an iteration improves f by less than this times (1 + |f|) (BFGS),
    /// or when the simplex's values span less than this times (1 + |f|) (Nelder–Mead).
    pub f_tolerance: f64,
    /// The largest change of any coordinate in one BFGS step, so that a wild first
    /// direction cannot overflow the exponentials of log-parameters.
    pub max_step: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iterations: 1_000,
            gradient_tolerance: 1e-9,
            f_tolerance: 1e-15,
            max_step: 2.0,
        }
    }
}

/// Where a minimiser stopped.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub iterations: usize,
    /// Calls of the objective.
    pub evaluations: usize,
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Minimises `f`, which returns the value at `x` and writes the gradient into its second
/// argument. A non-finite value counts as "too far" and makes the line search step back.
pub fn bfgs<F>(mut f: F, x0: &[f64], options: &Options) -> Minimum
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut evaluations = 1;
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Minimum {
            x,
            f: fx,
            iterations: 0,
            evaluations,
            converged: false,
        };
    }
    // The inverse Hessian approximation, row-major.
    let mut h = identity(n);
    let mut first_update = true;
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut d = vec![0.0; n];
    let mut s = vec![0.0; n];
    let mut y = vec![0.0; n];
    for iteration in 0..options.max_iterations {
        if max_abs(&g) < options.gradient_tolerance {
            return Minimum {
                x,
                f: fx,
                iterations: iteration,
                evaluations,
                converged: true,
            };
        }
        for i in 0..n {
            d[i] = -dot(&h[i * n..(i + 1) * n], &g);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: forget the curvature and go down the gradient.
            h = identity(n);
            first_update = true;
            for i in 0..n {
                d[i] = -g[i];
            }
            slope = dot(&g, &d);
        }
        let longest = max_abs(&d);
        if longest > options.max_step {
            let scale = options.max_step / longest;
            d.iter_mut().for_each(|v| *v *= scale);
            slope *= scale;
        }
        // Backtracking line search with the Armijo condition.
        let mut step = 1.0;
        let mut f_new = f64::NAN;
        let mut accepted = false;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            f_new = f(&x_new, &mut g_new);
            evaluations += 1;
            if f_new.is_finite()
                && g_new.iter().all(|v| v.is_finite())
                && f_new <= fx + 1e-4 * step * slope
            {
                accepted = true;
                break;
            }
            step *= if f_new.is_finite() { 0.5 } else { 0.1 };
        }
        if !accepted {
            // No progress along this direction: at a minimum up to rounding (when the
            // gradient is already small), or the curvature estimate has gone bad: then
            // one retry down the plain gradient.
            if first_update || max_abs(&g) < options.gradient_tolerance.sqrt() {
                return Minimum {
                    x,
                    f: fx,
                    iterations: iteration,
                    evaluations,
                    converged: max_abs(&g) < options.gradient_tolerance.sqrt(),
                };
            }
            h = identity(n);
            first_update = true;
            continue;
        }
        for i in 0..n {
            s[i] = x_new[i] - x[i];
            y[i] = g_new[i] - g[i];
        }
        let sy = dot(&s, &y);
        let improvement = fx - f_new;
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        fx = f_new;
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if first_update {
                // Scale the starting matrix to the curvature seen (Nocedal & Wright 6.20).
                let scale = sy / dot(&y, &y);
                h = identity(n);
                h.iter_mut().for_each(|v| *v *= scale);
                first_update = false;
            }
            update_inverse_hessian(&mut h, &s, &y, sy);
        }
        if improvement.abs() <= options.f_tolerance * (1.0 + fx.abs()) {
            return Minimum {
                x,
                f: fx,
                iterations: iteration + 1,
                evaluations,
                converged: max_abs(&g) < options.gradient_tolerance.sqrt(),
            };
        }
    }
    Minimum {
        x,
        f: fx,
        iterations: options.max_iterations,
        evaluations,
        converged: false,
    }
}

fn identity(n: usize) -> Vec<f64> {
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        h[i * n + i] = 1.0;
    }
    h
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs).
fn update_inverse_hessian(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n).map(|i| dot(&h[i * n..(i + 1) * n], y)).collect();
    let yhy = dot(y, &hy);
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] +=
                -rho * (s[i] * hy[j] + hy[i] * s[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// Minimises `f` by the Nelder–Mead simplex method, starting from `x0` with a simplex
/// whose edges are `step` long along each axis.
pub fn nelder_mead<F>(mut f: F, x0: &[f64], step: f64, options: &Options) -> Minimum
where
    F: FnMut(&[f64]) -> f64,
{
    let n = x0.len();
    let mut eval = |x: &[f64], count: &mut usize| {
        *count += 1;
        let v = f(x);
        if v.is_finite() {
            v
        } else {
            f64::INFINITY
        }
    };
    let mut evaluations = 0;
    let mut points: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    let mut values: Vec<f64> = Vec::with_capacity(n + 1);
    points.push(x0.to_vec());
    values.push(eval(x0, &mut evaluations));
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step;
        values.push(eval(&p, &mut evaluations));
        points.push(p);
    }
    let mut order: Vec<usize> = (0..=n).collect();
    let mut centroid = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut trial2 = vec![0.0; n];
    for iteration in 0..options.max_iterations {
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let (best, worst, second) = (order[0], order[n], order[n - 1]);
        let spread = values[worst] - values[best];
        if spread.is_finite() && spread <= options.f_tolerance * (1.0 + values[best].abs()) {
            return Minimum {
                x: points[best].clone(),
                f: values[best],
                iterations: iteration,
                evaluations,
                converged: true,
            };
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for &k in &order[..n] {
            for i in 0..n {
                centroid[i] += points[k][i] / n as f64;
            }
        }
        let towards = |coef: f64, out: &mut Vec<f64>, worst_point: &[f64]| {
            for i in 0..n {
                out[i] = centroid[i] + coef * (worst_point[i] - centroid[i]);
            }
        };
        towards(-1.0, &mut trial, &points[worst]);
        let reflected = eval(&trial, &mut evaluations);
        if reflected < values[best] {
            towards(-2.0, &mut trial2, &points[worst]);
            let expanded = eval(&trial2, &mut evaluations);
            if expanded < reflected {
                points[worst].clone_from(&trial2);
                values[worst] = expanded;
            } else {
                points[worst].clone_from(&trial);
                values[worst] = reflected;
            }
            continue;
        }
        if reflected < values[second] {
            points[worst].clone_from(&trial);
            values[worst] = reflected;
            continue;
        }
        // Contract, outside when the reflection beat the worst point, else inside.
        let outside = reflected < values[worst];
        towards(
            if outside { -0.5 } else { 0.5 },
            &mut trial2,
            &points[worst],
        );
        let contracted = eval(&trial2, &mut evaluations);
        if contracted < reflected.min(values[worst]) {
            points[worst].clone_from(&trial2);
            values[worst] = contracted;
            continue;
        }
        // Shrink everything towards the best point.
        let best_point = points[best].clone();
        for k in 0..=n {
            if k == best {
                continue;
            }
            for i in 0..n {
                points[k][i] = best_point[i] + 0.5 * (points[k][i] - best_point[i]);
            }
            values[k] = eval(&points[k], &mut evaluations);
        }
    }
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    Minimum {
        x: points[order[0]].clone(),
        f: values[order[0]],
        iterations: options.max_iterations,
        evaluations,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn bfgs_finds_the_rosenbrock_minimum() {
        let m = bfgs(rosenbrock, &[-1.2, 1.0], &Options::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
        assert!(m.iterations < 200);
    }

    #[test]
    fn bfgs_steps_back_from_non_finite_values() {
        // ln-barrier: undefined for x ≤ 0, minimum at x = 1/2 of x − ln x ... scaled.
        let f = |x: &[f64], g: &mut [f64]| {
            if x[0] <= 0.0 {
                g[0] = f64::NAN;
                return f64::NAN;
            }
            g[0] = 2.0 - 1.0 / x[0];
            2.0 * x[0] - x[0].ln()
        };
        let m = bfgs(f, &[3.0], &Options::default());
        assert!(m.converged);
        assert!((m.x[0] - 0.5).abs() < 1e-8, "{m:?}");
    }

    #[test]
    fn bfgs_solves_a_quadratic_in_few_steps() {
        // f = ½ xᵀAx − bᵀx with A positive definite: minimum at A⁻¹b.
        let a = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]];
        let b = [1.0, 2.0, 3.0];
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..3 {
                let ax: f64 = (0..3).map(|j| a[i][j] * x[j]).sum();
                g[i] = ax - b[i];
                v += 0.5 * x[i] * ax - b[i] * x[i];
            }
            v
        };
        let m = bfgs(f, &[0.0, 0.0, 0.0], &Options::default());
        assert!(m.converged);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|j| a[i][j] * m.x[j]).sum();
            assert!((ax - b[i]).abs() < 1e-8);
        }
        assert!(m.iterations <= 20, "{m:?}");
    }

    #[test]
    fn nelder_mead_finds_the_rosenbrock_minimum() {
        let mut g = [0.0; 2];
        let m = nelder_mead(
            |x| rosenbrock(x, &mut g),
            &[-1.2, 1.0],
            0.5,
            &Options {
                f_tolerance: 1e-20,
                max_iterations: 5_000,
                ..Options::default()
            },
        );
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn nelder_mead_treats_non_finite_values_as_worst() {
        let m = nelder_mead(
            |x| {
                if x[0] < 0.0 {
                    f64::NAN
                } else {
                    (x[0] - 2.0).powi(2) + (x[1] + 1.0).powi(2)
                }
            },
            &[0.1, 0.0],
            1.0,
            &Options {
                f_tolerance: 1e-18,
                ..Options::default()
            },
        );
        assert!(
            (m.x[0] - 2.0).abs() < 1e-6 && (m.x[1] + 1.0).abs() < 1e-6,
            "{m:?}"
        );
    }
}
