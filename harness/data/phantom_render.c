/* phantom_render: draws one phantom case (anatomy, lesion, mimics, texture, bias, gain,
 * Rician noise) from its own rng stream. Tissue levels are fixed constants chosen to look
 * like a normalised PI-CAI composite; what varies between cases is set by phantom_params. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/phantom.h"
#include "harness/util/rng.h"

#define PI 3.14159265358979323846
#define MAX_MIMICS 8
#define TEX_WAVES 8
#define BIAS_WAVES 3

/* Base levels (T2W, ADC, HBV) in [0, 1] per tissue code. The peripheral zone is T2W-bright
 * with high ADC, the transition zone darker on both; HBV is low everywhere but a lesion. */
static const double tissue[6][3] = {
    [PHANTOM_AIR] = {0.0, 0.0, 0.0},       [PHANTOM_FAT] = {0.70, 0.10, 0.05},
    [PHANTOM_MUSCLE] = {0.28, 0.38, 0.12}, [PHANTOM_RECTUM] = {0.18, 0.25, 0.22},
    [PHANTOM_PZ] = {0.75, 0.72, 0.28},     [PHANTOM_TZ] = {0.45, 0.55, 0.30},
};

typedef struct ellipse {
  double cx, cy, a, b, cs, sn, aa; /* aa: one pixel in units of the normalised radius */
} ellipse;

static ellipse ell(double cx, double cy, double a, double b, double angle) {
  return (ellipse){cx, cy, a, b, cos(angle), sin(angle), 1.0 / sqrt(a * b)};
}

static double ell_d(const ellipse *E, double x, double y) {
  double dx = x - E->cx, dy = y - E->cy;
  double u = (dx * E->cs + dy * E->sn) / E->a, v = (-dx * E->sn + dy * E->cs) / E->b;
  return sqrt(u * u + v * v);
}

static double clamp01(double t) { return t < 0 ? 0 : t > 1 ? 1 : t; }

/* Membership with an anti-aliased edge about one pixel wide. */
static double ell_m(const ellipse *E, double x, double y) { return clamp01((1 - ell_d(E, x, y)) / E->aa + 0.5); }

/* A focal spot's weight at normalised radius d: 1 inside, a smoothstep over [1-edge, 1+edge],
 * so the 0.5 level (the mask's boundary) sits at d = 1 whatever the blur. */
static double spot_profile(double d, double edge) {
  if (edge <= 0) return d <= 1 ? 1 : 0;
  double t = clamp01((d - (1 - edge)) / (2 * edge));
  return 1 - t * t * (3 - 2 * t);
}

static double unif(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

/* A point in the gland frame (rotated by the gland's angle) to image coordinates. */
static void gland_point(const ellipse *g, double u, double v, double *x, double *y) {
  *x = g->cx + u * g->cs - v * g->sn;
  *y = g->cy + u * g->sn + v * g->cs;
}

typedef struct spot {
  ellipse e;
  double c[3];
} spot;

/* A plane wave cos(kx x + ky y + phase) kept as per-column and per-row cos/sin tables, so a
 * pixel costs two products: cos(A + B) = cos A cos B - sin A sin B. */
typedef struct wave {
  double *cx, *sx, *cy, *sy;
} wave;

static void wave_init(wave *w, rng *r, int size, double fmin, double fmax) {
  double f = unif(r, fmin, fmax) * 2 * PI / size, dir = unif(r, 0, 2 * PI), ph = unif(r, 0, 2 * PI);
  double kx = f * cos(dir), ky = f * sin(dir);
  w->cx = malloc(4 * (size_t)size * sizeof *w->cx);
  if (!w->cx) abort();
  w->sx = w->cx + size;
  w->cy = w->sx + size;
  w->sy = w->cy + size;
  for (int i = 0; i < size; i++) {
    double t = i + 0.5;
    w->cx[i] = cos(kx * t + ph);
    w->sx[i] = sin(kx * t + ph);
    w->cy[i] = cos(ky * t);
    w->sy[i] = sin(ky * t);
  }
}

static double wave_at(const wave *w, int x, int y) { return w->cx[x] * w->cy[y] - w->sx[x] * w->sy[y]; }

static int poisson(rng *r, double mean, int cap) {
  double limit = exp(-mean), prod = rng_uniform(r);
  int k = 0;
  while (prod > limit && k < cap) {
    prod *= rng_uniform(r);
    k++;
  }
  return k;
}

int phantom_case_label(const phantom_params *p, uint64_t index) {
  /* Case i is positive when floor((i+1) f) > floor(i f): every prefix holds floor(n f). */
  double f = p->positive_fraction;
  return floor((double)(index + 1) * f) > floor((double)index * f);
}

void phantom_case_id(uint64_t index, char *buf, size_t n) {
  snprintf(buf, n, "phantom-%06llu", (unsigned long long)index);
}

/* Which of PZ / TZ a point of the gland lies in (0 outside the gland). */
static int zone_at(const ellipse *gland, const ellipse *tz, double x, double y) {
  if (ell_d(gland, x, y) > 1) return 0;
  return ell_d(tz, x, y) <= 1 ? PHANTOM_TZ : PHANTOM_PZ;
}

static spot draw_spot(rng *r, const phantom_params *p, const ellipse *gland, double cx, double cy, double u) {
  double rad = unif(r, p->lesion_radius_min, p->lesion_radius_max) * gland->a;
  double aspect = unif(r, 0.6, 1.0), angle = unif(r, 0, PI);
  spot s = {.e = ell(cx, cy, rad, rad * aspect, angle)};
  s.c[0] = p->lesion_t2w_min + u * (p->lesion_t2w_max - p->lesion_t2w_min);
  s.c[1] = p->lesion_adc_min + u * (p->lesion_adc_max - p->lesion_adc_min);
  s.c[2] = p->lesion_hbv_min + u * (p->lesion_hbv_max - p->lesion_hbv_min);
  return s;
}

/* A uniform point inside the gland (away from its rim). */
static void point_in_gland(rng *r, const ellipse *g, double *x, double *y) {
  double rho = 0.9 * sqrt(rng_uniform(r)), phi = unif(r, 0, 2 * PI);
  gland_point(g, rho * g->a * cos(phi), rho * g->b * sin(phi), x, y);
}

static void apply_spot(const spot *s, double weight, double v[3]) {
  v[0] *= 1 - s->c[0] * weight;
  v[1] *= 1 - s->c[1] * weight;
  v[2] *= 1 + s->c[2] * weight;
}

void phantom_render(const phantom_params *p, uint64_t seed, uint64_t index, uint8_t *rgb, uint8_t *mask,
                    uint8_t *zones, phantom_case_info *info) {
  const int n = p->size;
  const double side = n;
  rng r;
  rng_seed(&r, seed, index);
  phantom_case_info ci = {.label = phantom_case_label(p, index)};

  /* Anatomy, drawn in a fixed order so each case depends only on (seed, index). */
  double theta = unif(&r, -1, 1) * p->rotation_deg * PI / 180;
  double ga = unif(&r, p->gland_radius_min, p->gland_radius_max) * side;
  double gb = ga * unif(&r, p->gland_aspect_min, p->gland_aspect_max);
  double gx = side * (0.5 + p->gland_offset * unif(&r, -1, 1));
  double gy = side * (0.5 + p->gland_offset * unif(&r, -1, 1));
  ellipse gland = ell(gx, gy, ga, gb, theta);
  double tzs = unif(&r, p->tz_scale_min, p->tz_scale_max), tx, ty;
  /* The transition zone sits anteriorly (up), leaving the peripheral zone as a posterior crescent. */
  gland_point(&gland, 0, -(1 - tzs) * 0.6 * gb, &tx, &ty);
  ellipse tz = ell(tx, ty, ga * tzs, gb * tzs, theta);
  double rr = side * 0.055 * unif(&r, 0.85, 1.15), rx, ry;
  gland_point(&gland, 0, gb + 1.1 * rr + side * 0.01, &rx, &ry);
  ellipse rectum = ell(rx, ry, rr * 1.3, rr, theta);
  ellipse muscle[2];
  for (int k = 0; k < 2; k++) {
    double mx, my, off = ga + side * unif(&r, 0.07, 0.1);
    gland_point(&gland, k ? off : -off, side * 0.02, &mx, &my);
    muscle[k] = ell(mx, my, side * unif(&r, 0.04, 0.06), side * unif(&r, 0.1, 0.14), theta + (k ? -0.3 : 0.3));
  }
  ellipse body = ell(side * (0.5 + unif(&r, -0.02, 0.02)), side * (0.5 + unif(&r, -0.02, 0.02)),
                     side * unif(&r, 0.44, 0.48), side * unif(&r, 0.34, 0.40), theta * 0.5);
  ci.gland_cx = gx, ci.gland_cy = gy, ci.gland_a = ga, ci.gland_b = gb, ci.gland_angle = theta;

  spot lesion = {0};
  if (ci.label) {
    int want = rng_uniform(&r) < p->lesion_pz_probability ? PHANTOM_PZ : PHANTOM_TZ;
    double lx = gx, ly = gy;
    for (int tries = 0; tries < 200; tries++) {
      point_in_gland(&r, &gland, &lx, &ly);
      if (zone_at(&gland, &tz, lx, ly) == want) break;
    }
    lesion = draw_spot(&r, p, &gland, lx, ly, rng_uniform(&r));
    ci.lesion_zone = zone_at(&gland, &tz, lx, ly);
    ci.lesion_cx = lx, ci.lesion_cy = ly, ci.lesion_r = lesion.e.a;
    memcpy(ci.lesion_contrast, lesion.c, sizeof lesion.c);
  }
  spot mimic[MAX_MIMICS];
  ci.n_mimics = poisson(&r, p->mimic_mean, MAX_MIMICS);
  for (int k = 0; k < ci.n_mimics; k++) {
    double mx, my;
    point_in_gland(&r, &gland, &mx, &my);
    mimic[k] = draw_spot(&r, p, &gland, mx, my, rng_uniform(&r));
    mimic[k].c[1] *= p->mimic_adc_ratio;
    mimic[k].c[2] *= p->mimic_hbv_ratio;
  }

  wave tex[TEX_WAVES], bias[3][BIAS_WAVES];
  for (int k = 0; k < TEX_WAVES; k++) wave_init(&tex[k], &r, n, 4, 16);
  for (int c = 0; c < 3; c++)
    for (int k = 0; k < BIAS_WAVES; k++) wave_init(&bias[c][k], &r, n, 0.3, 1.0);
  double gain[3], sigma[3] = {p->noise_t2w, p->noise_adc, p->noise_hbv};
  for (int c = 0; c < 3; c++) {
    gain[c] = 1 + p->intensity_jitter * rng_normal(&r);
    if (gain[c] < 0.1) gain[c] = 0.1;
  }
  const double tex_norm = sqrt(2.0 / TEX_WAVES), bias_norm = sqrt(2.0 / BIAS_WAVES);
  /* The per-pixel noise comes from a second stream of the same case, so changing the noise
   * level leaves every anatomical draw above untouched. */
  rng noise;
  rng_seed(&noise, seed ^ 0x6e6f697365ULL, index);

  for (int py = 0; py < n; py++) {
    for (int px = 0; px < n; px++) {
      double x = px + 0.5, y = py + 0.5, v[3] = {0, 0, 0};
      int zone = PHANTOM_AIR;
      const struct {
        const ellipse *e;
        int t;
      } layers[] = {{&body, PHANTOM_FAT},  {&muscle[0], PHANTOM_MUSCLE}, {&muscle[1], PHANTOM_MUSCLE},
                    {&rectum, PHANTOM_RECTUM}, {&gland, PHANTOM_PZ}};
      double m_body = 0, m_gland = 0;
      for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        double m = ell_m(layers[l].e, x, y);
        if (l == 0) m_body = m;
        if (m <= 0) continue;
        if (layers[l].e == &gland) m_gland = m;
        for (int c = 0; c < 3; c++) v[c] += m * (tissue[layers[l].t][c] - v[c]);
        if (m >= 0.5) zone = layers[l].t;
      }
      if (m_gland > 0) {
        double m = ell_m(&tz, x, y) * m_gland;
        for (int c = 0; c < 3; c++) v[c] += m * (tissue[PHANTOM_TZ][c] - v[c]);
        if (m >= 0.5) zone = PHANTOM_TZ;
      }
      if (p->texture_strength > 0 && m_body > 0) {
        double t = 0;
        for (int k = 0; k < TEX_WAVES; k++) t += wave_at(&tex[k], px, py);
        double f = 1 + p->texture_strength * tex_norm * t * m_body;
        for (int c = 0; c < 3; c++) v[c] *= f;
      }
      int in_lesion = 0;
      if (m_gland > 0) {
        for (int k = 0; k < ci.n_mimics; k++) {
          double w = spot_profile(ell_d(&mimic[k].e, x, y), p->lesion_edge);
          if (w > 0) apply_spot(&mimic[k], w * m_gland, v);
        }
        if (ci.label) {
          double d = ell_d(&lesion.e, x, y);
          double w = spot_profile(d, p->lesion_edge);
          if (w > 0) apply_spot(&lesion, w * m_gland, v);
          in_lesion = d <= 1 && m_gland >= 0.5;
        }
      }
      size_t o = (size_t)py * n + px;
      for (int c = 0; c < 3; c++) {
        double b = 0;
        if (p->bias_strength > 0) {
          for (int k = 0; k < BIAS_WAVES; k++) b += wave_at(&bias[c][k], px, py);
          b = 1 + p->bias_strength * bias_norm * b;
          if (b < 0.1) b = 0.1;
        } else {
          b = 1;
        }
        double s = v[c] * b * gain[c];
        if (sigma[c] > 0) { /* Rician: the magnitude of a complex signal with Gaussian noise */
          double re = s + sigma[c] * rng_normal(&noise), im = sigma[c] * rng_normal(&noise);
          s = sqrt(re * re + im * im);
        }
        rgb[3 * o + c] = (uint8_t)lround(clamp01(s) * 255.0);
      }
      mask[o] = in_lesion ? 255 : 0;
      if (zones) zones[o] = (uint8_t)zone;
    }
  }
  for (int k = 0; k < TEX_WAVES; k++) free(tex[k].cx);
  for (int c = 0; c < 3; c++)
    for (int k = 0; k < BIAS_WAVES; k++) free(bias[c][k].cx);
  if (info) *info = ci;
}
