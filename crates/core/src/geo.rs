//! Coordinates for the prospect census (商圈摸排): map coordinates as Chinese map apps
//! give them, converted to WGS-84, and great-circle distances between points.
//!
//! Maps published in mainland China do not use WGS-84. Amap (高德), Tencent and
//! Google's China tiles use GCJ-02, an obfuscated datum shifted by up to a few hundred
//! metres; Baidu uses BD-09, a further transform of GCJ-02. A point typed from such a
//! map must be converted before it is compared with a station's GPS position, or a
//! prospect 2.9 km away can appear to be 3.4 km away.
//!
//! WGS-84 → GCJ-02 is the published forward transform (Krasovsky ellipsoid constants);
//! it has no closed inverse, so GCJ-02 → WGS-84 iterates the forward transform until
//! the error is below a millimetre. BD-09 ↔ GCJ-02 is closed in both directions. Points
//! outside China are not shifted by GCJ-02.

/// Mean earth radius (IUGG), km: what `haversine_km` measures with.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The coordinate system a point was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    Wgs84,
    Gcj02,
    Bd09,
}

impl Crs {
    pub fn parse(s: &str) -> Option<Crs> {
        match s {
            "wgs84" => Some(Crs::Wgs84),
            "gcj02" => Some(Crs::Gcj02),
            "bd09" => Some(Crs::Bd09),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

/// A point: latitude and longitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    pub const fn new(lat: f64, lon: f64) -> Point {
        Point { lat, lon }
    }

    /// Whether the point is a position on earth (latitude −90..90, longitude −180..180).
    pub fn is_valid(self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;
const PI: f64 = std::f64::consts::PI;
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// Whether GCJ-02 shifts this point: the rough box of mainland China that the
/// transform is defined on.
fn in_china(p: Point) -> bool {
    (72.004..=137.8347).contains(&p.lon) && (0.8293..=55.8271).contains(&p.lat)
}

fn shift_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn shift_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 → GCJ-02.
pub fn wgs84_to_gcj02(p: Point) -> Point {
    if !in_china(p) {
        return p;
    }
    let (x, y) = (p.lon - 105.0, p.lat - 35.0);
    let rad = p.lat / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = shift_lat(x, y) * 180.0 / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = shift_lon(x, y) * 180.0 / (GCJ_A / sqrt_magic * rad.cos() * PI);
    Point::new(p.lat + dlat, p.lon + dlon)
}

/// GCJ-02 → WGS-84: the point whose forward transform is `g`, found by iterating
/// (each step removes the forward transform's error at the current guess; the shift
/// varies slowly, so a few steps bring it under a millimetre).
pub fn gcj02_to_wgs84(g: Point) -> Point {
    if !in_china(g) {
        return g;
    }
    let mut w = g;
    for _ in 0..30 {
        let f = wgs84_to_gcj02(w);
        let (dlat, dlon) = (f.lat - g.lat, f.lon - g.lon);
        w = Point::new(w.lat - dlat, w.lon - dlon);
        if dlat.abs() < 1e-10 && dlon.abs() < 1e-10 {
            break;
        }
    }
    w
}

/// BD-09 → GCJ-02: the published closed form (good to about 10 cm), refined by the
/// same iteration as [`gcj02_to_wgs84`] so that it is the exact inverse of
/// [`gcj02_to_bd09`].
pub fn bd09_to_gcj02(b: Point) -> Point {
    let (x, y) = (b.lon - 0.0065, b.lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * BD_X_PI).cos();
    let mut g = Point::new(z * theta.sin(), z * theta.cos());
    for _ in 0..10 {
        let f = gcj02_to_bd09(g);
        let (dlat, dlon) = (f.lat - b.lat, f.lon - b.lon);
        g = Point::new(g.lat - dlat, g.lon - dlon);
        if dlat.abs() < 1e-10 && dlon.abs() < 1e-10 {
            break;
        }
    }
    g
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(g: Point) -> Point {
    let (x, y) = (g.lon, g.lat);
    let z = (x * x + y * y).sqrt() + 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) + 0.000_003 * (x * BD_X_PI).cos();
    Point::new(z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// A point given in `crs`, in WGS-84.
pub fn to_wgs84(p: Point, crs: Crs) -> Point {
    match crs {
        Crs::Wgs84 => p,
        Crs::Gcj02 => gcj02_to_wgs84(p),
        Crs::Bd09 => gcj02_to_wgs84(bd09_to_gcj02(p)),
    }
}

/// The great-circle distance between two WGS-84 points, km (haversine, on a sphere of
/// the mean earth radius: within 0.5 % of the ellipsoid, far below what a 3–5 km
/// catchment needs).
pub fn haversine_km(a: Point, b: Point) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The point `km` away from `from` on the initial bearing `bearing_deg` (clockwise
/// from north), on the same sphere as [`haversine_km`].
pub fn destination(from: Point, km: f64, bearing_deg: f64) -> Point {
    let d = km / EARTH_RADIUS_KM;
    let (la1, lo1, b) = (
        from.lat.to_radians(),
        from.lon.to_radians(),
        bearing_deg.to_radians(),
    );
    let la2 = (la1.sin() * d.cos() + la1.cos() * d.sin() * b.cos()).asin();
    let lo2 = lo1 + (b.sin() * d.sin() * la1.cos()).atan2(d.cos() - la1.sin() * la2.sin());
    Point::new(la2.to_degrees(), lo2.to_degrees())
}

/// A latitude/longitude box that holds every point within `km` of `c`: a cheap filter
/// for the database before the exact distance.
pub fn bounding_box(c: Point, km: f64) -> (Point, Point) {
    // The spherical cap of angular radius d spans d in latitude and
    // asin(sin d / cos φ) in longitude; a hair more covers the rounding.
    let d = km / EARTH_RADIUS_KM;
    let dlat = d.to_degrees() + 1e-9;
    let cos = c.lat.to_radians().cos();
    let dlon = if cos <= d.sin() {
        180.0
    } else {
        (d.sin() / cos).asin().to_degrees() + 1e-9
    };
    (
        Point::new(c.lat - dlat, c.lon - dlon),
        Point::new(c.lat + dlat, c.lon + dlon),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (WGS-84, GCJ-02, BD-09) printed by `scripts/geo_reference.py` from the `prcoords`
    /// package.
    type LatLon = (f64, f64);

    const REFERENCE: &[(LatLon, LatLon, LatLon)] = &[
        // Beijing, Tiananmen
        (
            (39.9087, 116.3975),
            (39.910103499345, 116.403743572652),
            (39.916442749631, 116.410116586473),
        ),
        // Shanghai, People's Square
        (
            (31.2304, 121.4737),
            (31.228457737577, 121.478223059277),
            (31.234310593690, 121.484781468503),
        ),
        // Urumqi
        (
            (43.8256, 87.6168),
            (43.826805393111, 87.619649949469),
            (43.832949794793, 87.626099770816),
        ),
        // Shenzhen
        (
            (22.5431, 114.0579),
            (22.540382814222, 114.063013998565),
            (22.546041559074, 114.069563987033),
        ),
        // Chengdu
        (
            (30.5728, 104.0668),
            (30.570346141080, 104.069305477249),
            (30.576351856151, 104.075782956833),
        ),
    ];

    fn metres(a: Point, b: Point) -> f64 {
        haversine_km(a, b) * 1000.0
    }

    #[test]
    fn map_coordinates_convert_to_wgs84_within_a_metre_of_the_reference() {
        for &((wl, wo), (gl, go), (bl, bo)) in REFERENCE {
            let w = Point::new(wl, wo);
            let g = Point::new(gl, go);
            let b = Point::new(bl, bo);
            assert!(metres(wgs84_to_gcj02(w), g) < 0.01, "forward {w:?}");
            assert!(metres(gcj02_to_bd09(g), b) < 0.01, "to BD-09 {g:?}");
            let back = to_wgs84(g, Crs::Gcj02);
            assert!(metres(back, w) < 1.0, "GCJ-02 {g:?} → {back:?}, not {w:?}");
            let back = to_wgs84(b, Crs::Bd09);
            assert!(metres(back, w) < 1.0, "BD-09 {b:?} → {back:?}, not {w:?}");
            // The shift is real: hundreds of metres, not nothing.
            assert!(metres(g, w) > 100.0, "{w:?}");
        }
    }

    #[test]
    fn the_inverse_holds_across_china_and_nothing_moves_outside() {
        let mut lat = 18.0;
        while lat < 53.0 {
            let mut lon = 74.0;
            while lon < 134.0 {
                let w = Point::new(lat, lon);
                let round = gcj02_to_wgs84(wgs84_to_gcj02(w));
                assert!(metres(round, w) < 0.01, "{w:?} → {round:?}");
                let round = to_wgs84(gcj02_to_bd09(wgs84_to_gcj02(w)), Crs::Bd09);
                assert!(metres(round, w) < 0.01, "BD-09 {w:?} → {round:?}");
                lon += 1.7;
            }
            lat += 1.3;
        }
        let tokyo = Point::new(35.6812, 139.7671);
        assert_eq!(wgs84_to_gcj02(tokyo), tokyo);
        assert_eq!(to_wgs84(tokyo, Crs::Gcj02), tokyo);
    }

    #[test]
    fn a_radius_holds_what_lies_within_it() {
        let station = Point::new(39.9087, 116.3975);
        for bearing in [0.0, 45.0, 90.0, 135.0, 180.0, 270.0, 333.0] {
            let inside = destination(station, 2.99, bearing);
            let outside = destination(station, 3.01, bearing);
            assert!(haversine_km(station, inside) <= 3.0, "{bearing}");
            assert!(haversine_km(station, outside) > 3.0, "{bearing}");
            assert!((haversine_km(station, inside) - 2.99).abs() < 1e-9);
            let (lo, hi) = bounding_box(station, 3.0);
            for p in [inside, destination(station, 3.0, bearing)] {
                assert!(p.lat >= lo.lat && p.lat <= hi.lat && p.lon >= lo.lon && p.lon <= hi.lon);
            }
        }
        // Beijing to Shanghai, about 1,068 km.
        let d = haversine_km(station, Point::new(31.2304, 121.4737));
        assert!((d - 1067.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km(station, station), 0.0);
    }

    #[test]
    fn points_off_the_earth_are_refused() {
        assert!(Point::new(39.9, 116.4).is_valid());
        assert!(!Point::new(91.0, 0.0).is_valid());
        assert!(!Point::new(0.0, 181.0).is_valid());
        assert!(!Point::new(f64::NAN, 0.0).is_valid());
        assert_eq!(Crs::parse("gcj02"), Some(Crs::Gcj02));
        assert_eq!(Crs::parse("GCJ"), None);
    }
}
