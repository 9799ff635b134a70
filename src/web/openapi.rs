//! The OpenAPI 3.1 description of `/api/v1`, built from one table of the routes (checked
//! against the mounted routes by a test) and from the register types' own JSON Schemas.

use serde_json::{Map, Value, json};

use crate::model::{Activity, Organisation};

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    Public,
    Any,
    Read,
    Audit,
    Edit,
    Admin,
}

impl Access {
    fn text(self) -> &'static str {
        match self {
            Access::Public => "Sans authentification.",
            Access::Any => "Tout utilisateur authentifié.",
            Access::Read => "Tout rôle sur l'organisme (admin, dpo, agent, auditor).",
            Access::Audit => "Rôle auditor ou dpo sur l'organisme, ou admin.",
            Access::Edit => "Rôle dpo sur l'organisme, ou admin.",
            Access::Admin => "Administrateurs.",
        }
    }
}

/// What a route takes as body.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Organisation,
    Activity,
    RegisterFile,
    Token,
}

/// One route of the API: method, path (OpenAPI syntax), summary, access, body, success status.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    summary: &'static str,
    access: Access,
    body: Body,
    success: u16,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    body: Body,
    success: u16,
) -> Route {
    Route {
        method,
        path,
        summary,
        access,
        body,
        success,
    }
}

/// Every route of `/api/v1`.
pub const ROUTES: &[Route] = &[
    route(
        "get",
        "/me",
        "L'utilisateur authentifié et ses rôles",
        Access::Any,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations",
        "Les organismes visibles",
        Access::Any,
        Body::None,
        200,
    ),
    route(
        "post",
        "/organisations",
        "Crée un organisme",
        Access::Admin,
        Body::Organisation,
        201,
    ),
    route(
        "get",
        "/organisations/{org}",
        "Un organisme (sans ses activités)",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "put",
        "/organisations/{org}",
        "Modifie un organisme",
        Access::Edit,
        Body::Organisation,
        200,
    ),
    route(
        "delete",
        "/organisations/{org}",
        "Supprime un organisme et ses activités",
        Access::Admin,
        Body::None,
        204,
    ),
    route(
        "get",
        "/organisations/{org}/activities",
        "Les activités, filtrées (purpose, category, subject, legal_basis, public, q)",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "post",
        "/organisations/{org}/activities",
        "Crée une activité",
        Access::Edit,
        Body::Activity,
        201,
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}",
        "Une activité",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "put",
        "/organisations/{org}/activities/{id}",
        "Modifie une activité",
        Access::Edit,
        Body::Activity,
        200,
    ),
    route(
        "delete",
        "/organisations/{org}/activities/{id}",
        "Supprime une activité (refusé si d'autres en tirent leurs données)",
        Access::Edit,
        Body::None,
        204,
    ),
    route(
        "get",
        "/organisations/{org}/history",
        "Historique des modifications de l'organisme",
        Access::Audit,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/history",
        "Historique d'une activité, champ par champ",
        Access::Audit,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/register",
        "Le registre de l'organisme (format=yaml|json, at=date RFC 3339)",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "get",
        "/register",
        "Le registre des organismes visibles (format=yaml|json, at=date RFC 3339)",
        Access::Any,
        Body::None,
        200,
    ),
    route(
        "post",
        "/register",
        "Importe un registre (YAML, ou JSON avec Content-Type: application/json)",
        Access::Edit,
        Body::RegisterFile,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/audit",
        "Audit de l'organisme (constats de spec/findings.md)",
        Access::Audit,
        Body::None,
        200,
    ),
    route(
        "get",
        "/audit",
        "Audit de tous les organismes que l'appelant peut auditer",
        Access::Any,
        Body::None,
        200,
    ),
    route(
        "get",
        "/tokens",
        "Les jetons d'API de l'appelant (tous pour un admin)",
        Access::Any,
        Body::None,
        200,
    ),
    route(
        "post",
        "/tokens",
        "Crée un jeton d'API pour un organisme et un rôle (authentification HTTP Basic acceptée)",
        Access::Any,
        Body::Token,
        201,
    ),
    route(
        "delete",
        "/tokens/{id}",
        "Révoque un jeton d'API",
        Access::Any,
        Body::None,
        204,
    ),
    route(
        "get",
        "/users",
        "Les comptes",
        Access::Admin,
        Body::None,
        200,
    ),
    route(
        "post",
        "/users/{login}/disable",
        "Désactive un compte (ses sessions et jetons cessent de fonctionner)",
        Access::Admin,
        Body::None,
        204,
    ),
    route(
        "post",
        "/users/{login}/enable",
        "Réactive un compte",
        Access::Admin,
        Body::None,
        204,
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/notice",
        "Notice d'information de l'activité (format=json|html|pdf|text|mention), avec sa version et les informations manquantes",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/consent-form",
        "Formulaire de consentement de l'activité (format=json|html|pdf|text)",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/documents",
        "Versions des documents déjà présentés (notices, formulaires, pages publiques)",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "get",
        "/organisations/{org}/documents/{version}",
        "Une version de document et son contenu, par son identifiant ou son empreinte SHA-256",
        Access::Read,
        Body::None,
        200,
    ),
    route(
        "get",
        "/openapi.json",
        "Ce document",
        Access::Public,
        Body::None,
        200,
    ),
];

/// The JSON Schema of `T`, its definitions moved into `components` (OpenAPI resolves
/// references from the document's root).
fn schema_of<T: schemars::JsonSchema>(components: &mut Map<String, Value>) -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    retarget(&mut schema);
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            components.extend(defs);
        }
    }
    schema
}

fn retarget(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            map.values_mut().for_each(retarget);
        }
        Value::Array(items) => items.iter_mut().for_each(retarget),
        _ => {}
    }
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn operation(r: &Route) -> Value {
    let mut responses = Map::new();
    responses.insert(
        r.success.to_string(),
        json!({ "description": if r.success == 204 { "Fait" } else { "Succès" } }),
    );
    if !matches!(r.access, Access::Public) {
        responses.insert("401".into(), error_response("Authentification requise"));
        responses.insert("403".into(), error_response("Rôle insuffisant"));
        responses.insert(
            "404".into(),
            error_response("Introuvable, ou organisme d'un autre"),
        );
    }
    let mut op = json!({
        "summary": r.summary,
        "description": r.access.text(),
        "responses": responses,
    });
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    let body = match r.body {
        Body::None => None,
        Body::Organisation => Some(
            json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Organisation" } } }),
        ),
        Body::Activity => Some(
            json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Activity" } } }),
        ),
        Body::RegisterFile => Some(json!({
            "application/yaml": { "schema": { "type": "string", "description": "registre au format registre/v1" } },
            "application/json": { "schema": { "type": "object" } },
        })),
        Body::Token => Some(
            json!({ "application/json": { "schema": { "$ref": "#/components/schemas/TokenRequest" } } }),
        ),
    };
    if let Some(content) = body {
        op["requestBody"] = json!({ "required": true, "content": content });
        op["responses"]["413"] = error_response("Corps trop volumineux");
        op["responses"]["422"] = error_response("Invalide : chaque champ fautif avec son chemin");
    }
    if !matches!(r.access, Access::Public) {
        op["security"] = json!([{ "token": [] }, { "session": [] }]);
    }
    op
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = operation(r);
    }
    let mut schemas = Map::new();
    let organisation = schema_of::<Organisation>(&mut schemas);
    let activity = schema_of::<Activity>(&mut schemas);
    schemas.insert("Organisation".into(), organisation);
    schemas.insert("Activity".into(), activity);
    schemas.insert(
        "TokenRequest".into(),
        json!({
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": { "type": "string", "maxLength": 200 },
                "role": { "enum": ["admin", "dpo", "agent", "auditor"] },
                "organisation": { "type": "string", "description": "obligatoire sauf pour admin" },
                "days": { "type": "integer", "minimum": 1, "maximum": 366, "default": 90 },
            },
        }),
    );
    schemas.insert("Error".into(), json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": { "type": "string" },
            "message": { "type": "string" },
            "errors": { "type": "array", "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": { "path": { "type": "string" }, "line": { "type": "integer" }, "message": { "type": "string" } },
            } },
        },
    }));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "registre",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Registre des traitements RGPD (art. 30) des collectivités : organismes, activités, import et export au format registre/v1, historique, audit.",
        },
        "servers": [{ "url": "/api/v1" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": { "type": "http", "scheme": "bearer", "description": "Jeton d'API (rgt_…) limité à un organisme et un rôle" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE, "description": "Session du navigateur ; en-tête X-CSRF-Token exigé pour toute modification" },
            },
            "schemas": schemas,
        },
    })
}
