//! The stylesheet, script and icon, compiled into the binary and served at
//! content-hashed URLs (`/static/{hash}/{file}`) that may be cached forever:
//! a new build with other bytes has other URLs.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/app.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../static/favicon.svg"),
    },
];

/// The first 16 hex digits of each asset's SHA-256, in [`ASSETS`] order,
/// computed once.
fn hashes() -> &'static [String] {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                Sha256::digest(a.body)[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect()
    })
}

/// The hashed URL of asset `name` (`/static/{hash}/{name}`).
pub fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/static/{}/{}", hashes()[i], name),
        None => format!("/static/missing/{name}"),
    }
}

/// `GET /static/{hash}/{file}`: the asset if the hash is current (cached
/// for a year, immutable), 404 otherwise.
pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (hash, file) = path.into_inner();
    match ASSETS.iter().position(|a| a.name == file) {
        Some(i) if hashes()[i] == hash => HttpResponse::Ok()
            .content_type(ASSETS[i].content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(ASSETS[i].body),
        _ => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such asset"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_content_hash() {
        let u = url("app.css");
        assert!(u.starts_with("/static/") && u.ends_with("/app.css"), "{u}");
        assert_eq!(u.len(), "/static/".len() + 16 + "/app.css".len());
        assert_eq!(url("app.css"), u, "stable");
    }
}
