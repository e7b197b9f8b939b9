//! Places the simulated users log in from: country, city, coordinates, time zone and the IP
//! block their addresses are drawn from. Documentation ranges (RFC 5737) are used where they fit;
//! the rest are plausible public-looking blocks.

use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub country_iso: &'static str,
    pub country: &'static str,
    pub subdivision: &'static str,
    pub city: &'static str,
    pub postal_code: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub tz: Tz,
    /// First three octets (`a.b.c`) or two octets (`a.b`) of the block addresses come from.
    pub ip_block: &'static str,
}

impl Place {
    /// Great-circle distance in km.
    pub fn distance_km(&self, other: &Place) -> f64 {
        let (la1, lo1) = (self.latitude.to_radians(), self.longitude.to_radians());
        let (la2, lo2) = (other.latitude.to_radians(), other.longitude.to_radians());
        let a = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        2.0 * 6371.0 * a.sqrt().asin()
    }

    /// An address in this place's block; `n` picks the host part deterministically.
    pub fn ip(&self, n: u32) -> String {
        let dots = self.ip_block.matches('.').count();
        if dots >= 2 {
            format!("{}.{}", self.ip_block, 1 + n % 254)
        } else {
            format!("{}.{}.{}", self.ip_block, (n / 254) % 256, 1 + n % 254)
        }
    }
}

macro_rules! place {
    ($iso:expr, $c:expr, $sub:expr, $city:expr, $pc:expr, $lat:expr, $lon:expr, $tz:expr, $ip:expr) => {
        Place {
            country_iso: $iso,
            country: $c,
            subdivision: $sub,
            city: $city,
            postal_code: $pc,
            latitude: $lat,
            longitude: $lon,
            tz: $tz,
            ip_block: $ip,
        }
    };
}

/// Where the org's employees live and work.
pub const HOME_PLACES: [Place; 6] = [
    place!(
        "US",
        "United States",
        "New York",
        "New York",
        "10001",
        40.7128,
        -74.006,
        chrono_tz::America::New_York,
        "198.51.100"
    ),
    place!(
        "US",
        "United States",
        "California",
        "San Francisco",
        "94105",
        37.7897,
        -122.3942,
        chrono_tz::America::Los_Angeles,
        "203.0.113"
    ),
    place!(
        "GB",
        "United Kingdom",
        "England",
        "London",
        "EC2A",
        51.5226,
        -0.0822,
        chrono_tz::Europe::London,
        "81.2.69"
    ),
    place!(
        "DE",
        "Germany",
        "Berlin",
        "Berlin",
        "10115",
        52.532,
        13.3849,
        chrono_tz::Europe::Berlin,
        "192.0.2"
    ),
    place!(
        "IN",
        "India",
        "Karnataka",
        "Bengaluru",
        "560001",
        12.9716,
        77.5946,
        chrono_tz::Asia::Kolkata,
        "49.207"
    ),
    place!(
        "JP",
        "Japan",
        "Tokyo",
        "Tokyo",
        "100-0005",
        35.6812,
        139.7671,
        chrono_tz::Asia::Tokyo,
        "133.242"
    ),
];

/// Cloud egress places integrations run from.
pub const DATACENTERS: [Place; 2] = [
    place!(
        "US",
        "United States",
        "Virginia",
        "Ashburn",
        "20147",
        39.0438,
        -77.4874,
        chrono_tz::America::New_York,
        "34.201"
    ),
    place!(
        "DE",
        "Germany",
        "Hesse",
        "Frankfurt am Main",
        "60313",
        50.1109,
        8.6821,
        chrono_tz::Europe::Berlin,
        "18.184"
    ),
];

/// Places that only ever appear in incidents (never in anyone's baseline).
pub const FOREIGN_PLACES: [Place; 5] = [
    place!(
        "NG",
        "Nigeria",
        "Lagos",
        "Lagos",
        "100001",
        6.5244,
        3.3792,
        chrono_tz::Africa::Lagos,
        "102.89"
    ),
    place!(
        "VN",
        "Vietnam",
        "Hanoi",
        "Hanoi",
        "100000",
        21.0278,
        105.8342,
        chrono_tz::Asia::Ho_Chi_Minh,
        "113.161"
    ),
    place!(
        "RO",
        "Romania",
        "Bucuresti",
        "Bucharest",
        "010011",
        44.4268,
        26.1025,
        chrono_tz::Europe::Bucharest,
        "86.120"
    ),
    place!(
        "AU",
        "Australia",
        "New South Wales",
        "Sydney",
        "2000",
        -33.8688,
        151.2093,
        chrono_tz::Australia::Sydney,
        "1.120"
    ),
    place!(
        "BR",
        "Brazil",
        "Sao Paulo",
        "Sao Paulo",
        "01000-000",
        -23.5505,
        -46.6333,
        chrono_tz::America::Sao_Paulo,
        "177.71"
    ),
];
