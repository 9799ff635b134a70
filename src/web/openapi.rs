//! The OpenAPI 3.1 description of `/api/v1`, built from one table of the routes (checked
//! against the mounted routes by a test) and from the JSON Schemas of the very types the
//! routes take and answer.

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::answers::{
    ActivityList, CreatedToken, DocumentVersions, History, Me, OrganisationList, TokenList,
    UserList,
};
use super::consents::{BatchAnswer, BatchCheck, PaperConsent, PaperWithdrawal};
use crate::audit::Report;
use crate::consent::{Check, Event};
use crate::model::{Activity, Organisation, Register};
use crate::notice::{ConsentForm, Notice};
use crate::service::{
    ActivityCounts, Allowed, History as ConsentHistory, ProofBundle, SignedHead, Verification,
};
use crate::store::{DocumentVersion, ImportSummary};

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    Public,
    Any,
    Read,
    Audit,
    Record,
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
            Access::Record => "Rôle agent ou dpo sur l'organisme, ou admin.",
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
    /// A JSON body of this schema.
    Json(Schema),
}

/// The schema of a body, registered among the document's components by the generator.
type Schema = fn(&mut SchemaGenerator) -> Value;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

/// What a route answers when it succeeds.
#[derive(Clone, Copy)]
pub enum Answer {
    /// A JSON body of this schema, with this status.
    Json(u16, Schema),
    /// 204, no body.
    Done,
    /// A register file: YAML by default, JSON with `format=json`.
    RegisterFile,
    /// A document: its content as JSON (this schema), or as HTML, PDF or text.
    Document(Schema),
    /// JSON of this schema by default, or with `format=` this other type (`pdf`, `csv`).
    Download(Schema, &'static str),
    /// A file of this media type.
    File(&'static str),
    /// This document.
    OpenApi,
}

/// One route of the API: method, path (OpenAPI syntax), summary, access, body, answer.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    summary: &'static str,
    access: Access,
    body: Body,
    pub answer: Answer,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    body: Body,
    answer: Answer,
) -> Route {
    Route {
        method,
        path,
        summary,
        access,
        body,
        answer,
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
        Answer::Json(200, schema::<Me>),
    ),
    route(
        "get",
        "/organisations",
        "Les organismes visibles",
        Access::Any,
        Body::None,
        Answer::Json(200, schema::<OrganisationList>),
    ),
    route(
        "post",
        "/organisations",
        "Crée un organisme",
        Access::Admin,
        Body::Organisation,
        Answer::Json(201, schema::<Organisation>),
    ),
    route(
        "get",
        "/organisations/{org}",
        "Un organisme (sans ses activités)",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<Organisation>),
    ),
    route(
        "put",
        "/organisations/{org}",
        "Modifie un organisme",
        Access::Edit,
        Body::Organisation,
        Answer::Json(200, schema::<Organisation>),
    ),
    route(
        "delete",
        "/organisations/{org}",
        "Supprime un organisme et ses activités",
        Access::Admin,
        Body::None,
        Answer::Done,
    ),
    route(
        "get",
        "/organisations/{org}/activities",
        "Les activités, filtrées (purpose, category, subject, legal_basis, public, q)",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<ActivityList>),
    ),
    route(
        "post",
        "/organisations/{org}/activities",
        "Crée une activité",
        Access::Edit,
        Body::Activity,
        Answer::Json(201, schema::<Activity>),
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}",
        "Une activité",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<Activity>),
    ),
    route(
        "put",
        "/organisations/{org}/activities/{id}",
        "Modifie une activité",
        Access::Edit,
        Body::Activity,
        Answer::Json(200, schema::<Activity>),
    ),
    route(
        "delete",
        "/organisations/{org}/activities/{id}",
        "Supprime une activité (refusé si d'autres en tirent leurs données)",
        Access::Edit,
        Body::None,
        Answer::Done,
    ),
    route(
        "get",
        "/organisations/{org}/history",
        "Historique des modifications de l'organisme",
        Access::Audit,
        Body::None,
        Answer::Json(200, schema::<History>),
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/history",
        "Historique d'une activité, champ par champ",
        Access::Audit,
        Body::None,
        Answer::Json(200, schema::<History>),
    ),
    route(
        "get",
        "/organisations/{org}/register",
        "Le registre de l'organisme (format=yaml|json, at=date RFC 3339)",
        Access::Read,
        Body::None,
        Answer::RegisterFile,
    ),
    route(
        "get",
        "/register",
        "Le registre des organismes visibles (format=yaml|json, at=date RFC 3339)",
        Access::Any,
        Body::None,
        Answer::RegisterFile,
    ),
    route(
        "post",
        "/register",
        "Importe un registre (YAML, ou JSON avec Content-Type: application/json)",
        Access::Edit,
        Body::RegisterFile,
        Answer::Json(200, schema::<ImportSummary>),
    ),
    route(
        "get",
        "/organisations/{org}/audit",
        "Audit de l'organisme (constats de spec/findings.md)",
        Access::Audit,
        Body::None,
        Answer::Json(200, schema::<Report>),
    ),
    route(
        "get",
        "/audit",
        "Audit de tous les organismes que l'appelant peut auditer",
        Access::Any,
        Body::None,
        Answer::Json(200, schema::<Report>),
    ),
    route(
        "get",
        "/tokens",
        "Les jetons d'API de l'appelant (tous pour un admin)",
        Access::Any,
        Body::None,
        Answer::Json(200, schema::<TokenList>),
    ),
    route(
        "post",
        "/tokens",
        "Crée un jeton d'API pour un organisme et un rôle (authentification HTTP Basic acceptée)",
        Access::Any,
        Body::Token,
        Answer::Json(201, schema::<CreatedToken>),
    ),
    route(
        "delete",
        "/tokens/{id}",
        "Révoque un jeton d'API",
        Access::Any,
        Body::None,
        Answer::Done,
    ),
    route(
        "get",
        "/users",
        "Les comptes",
        Access::Admin,
        Body::None,
        Answer::Json(200, schema::<UserList>),
    ),
    route(
        "post",
        "/users/{login}/disable",
        "Désactive un compte (ses sessions et jetons cessent de fonctionner)",
        Access::Admin,
        Body::None,
        Answer::Done,
    ),
    route(
        "post",
        "/users/{login}/enable",
        "Réactive un compte",
        Access::Admin,
        Body::None,
        Answer::Done,
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/notice",
        "Notice d'information de l'activité (format=json|html|pdf|text|mention), avec sa version et les informations manquantes",
        Access::Read,
        Body::None,
        Answer::Document(schema::<Notice>),
    ),
    route(
        "get",
        "/organisations/{org}/activities/{id}/consent-form",
        "Formulaire de consentement de l'activité (format=json|html|pdf|text)",
        Access::Read,
        Body::None,
        Answer::Document(schema::<ConsentForm>),
    ),
    route(
        "get",
        "/organisations/{org}/documents",
        "Versions des documents déjà présentés (notices, formulaires, pages publiques)",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<DocumentVersions>),
    ),
    route(
        "get",
        "/organisations/{org}/documents/{version}",
        "Une version de document et son contenu, par son identifiant ou son empreinte SHA-256",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<DocumentVersion>),
    ),
    route(
        "get",
        "/organisations/{org}/consents/check",
        "Le consentement permet-il l'usage, maintenant ? Paramètres activity, subject et choice ; raison quand il ne le permet pas (never-asked, refused, withdrawn, expired, renewal-required, incomplete-parental)",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<Check>),
    ),
    route(
        "post",
        "/organisations/{org}/consents/check",
        "La même question pour 10 000 personnes au plus, dans l'ordre donné",
        Access::Read,
        Body::Json(schema::<BatchCheck>),
        Answer::Json(200, schema::<BatchAnswer>),
    ),
    route(
        "get",
        "/organisations/{org}/consents/subjects/{subject}",
        "Identité (sauf effacée) et événements de consentement d'une personne",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<ConsentHistory>),
    ),
    route(
        "get",
        "/organisations/{org}/consents/verify",
        "Recalcule le registre des consentements et le confronte aux têtes d'arbre signées",
        Access::Audit,
        Body::None,
        Answer::Json(200, schema::<Verification>),
    ),
    route(
        "post",
        "/organisations/{org}/consents/head",
        "Signe la tête d'arbre du registre des consentements (taille, racine, date) ; avec la clé publique",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<SignedHead>),
    ),
    route(
        "post",
        "/organisations/{org}/consents",
        "Enregistre un consentement reçu par un agent (papier au guichet, courrier, courriel, téléphone), avec le formulaire signé numérisé (scan, base64) ou son empreinte ; 201 et l'événement",
        Access::Record,
        Body::Json(schema::<PaperConsent>),
        Answer::Json(201, schema::<Event>),
    ),
    route(
        "post",
        "/organisations/{org}/consents/withdrawals",
        "Enregistre un retrait reçu par un agent ; il vaut aussitôt pour les vérifications",
        Access::Record,
        Body::Json(schema::<PaperWithdrawal>),
        Answer::Json(201, schema::<Event>),
    ),
    route(
        "get",
        "/organisations/{org}/consents/activities/{activity}/counts",
        "Nombre de personnes par état (accordé, refusé, retiré, expiré, à renouveler, incomplet) pour chaque choix du formulaire",
        Access::Read,
        Body::None,
        Answer::Json(200, schema::<ActivityCounts>),
    ),
    route(
        "get",
        "/organisations/{org}/consents/activities/{activity}/allowed",
        "Les personnes dont le consentement permet l'usage (paramètre choice), maintenant : pour l'envoi d'une lettre ou la publication de photos (format=csv)",
        Access::Record,
        Body::None,
        Answer::Download(schema::<Vec<Allowed>>, "csv"),
    ),
    route(
        "get",
        "/organisations/{org}/consents/subjects/{subject}/proof",
        "Preuve des consentements d'une personne : chaque événement, les versions des formulaires vues, les preuves d'inclusion et la tête d'arbre signée (format=pdf pour l'imprimer)",
        Access::Read,
        Body::None,
        Answer::Download(schema::<ProofBundle>, "pdf"),
    ),
    route(
        "get",
        "/organisations/{org}/consents/events/{seq}/receipt",
        "Reçu d'un événement (ISO/IEC TS 27560, JSON-LD) avec sa preuve d'inclusion (format=pdf pour l'imprimer)",
        Access::Read,
        Body::None,
        Answer::Download(schema::<Value>, "pdf"),
    ),
    route(
        "get",
        "/organisations/{org}/consents/scans/{sha256}",
        "Un formulaire papier numérisé, par l'empreinte que donne son événement",
        Access::Read,
        Body::None,
        Answer::File("application/octet-stream"),
    ),
    route(
        "get",
        "/openapi.json",
        "Ce document",
        Access::Public,
        Body::None,
        Answer::OpenApi,
    ),
];

fn media_type(format: &str) -> &'static str {
    match format {
        "pdf" => "application/pdf",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// The success answer of a route: its status and what it holds.
fn success(answer: Answer, generator: &mut SchemaGenerator) -> (u16, Value) {
    match answer {
        Answer::Json(status, schema) => (
            status,
            json!({ "description": "Succès", "content": json_content(schema(generator)) }),
        ),
        Answer::Done => (204, json!({ "description": "Fait" })),
        Answer::RegisterFile => (
            200,
            json!({ "description": "Le registre au format registre/v1", "content": {
                "application/yaml": { "schema": { "type": "string" } },
                "application/json": { "schema": generator.subschema_for::<Register>().to_value() },
            } }),
        ),
        Answer::Document(schema) => (
            200,
            json!({ "description": "Le document (format=json par défaut) ; sa version dans l’en-tête X-Document-Version, son SHA-256 dans ETag", "content": {
                "application/json": { "schema": schema(generator) },
                "text/html": { "schema": { "type": "string" } },
                "application/pdf": { "schema": { "type": "string", "contentMediaType": "application/pdf" } },
                "text/plain": { "schema": { "type": "string" } },
            } }),
        ),
        Answer::Download(schema, other) => (
            200,
            json!({ "description": format!("JSON par défaut ; format={other} pour le fichier"), "content": {
                "application/json": { "schema": schema(generator) },
                media_type(other): { "schema": { "type": "string" } },
            } }),
        ),
        Answer::File(media) => (
            200,
            json!({ "description": "Le fichier", "content": { media: { "schema": { "type": "string" } } } }),
        ),
        Answer::OpenApi => (
            200,
            json!({ "description": "Ce document, OpenAPI 3.1", "content": json_content(json!({ "type": "object" })) }),
        ),
    }
}

fn operation(r: &Route, generator: &mut SchemaGenerator) -> Value {
    let mut responses = Map::new();
    let (status, answer) = success(r.answer, generator);
    responses.insert(status.to_string(), answer);
    // Any other status (400 bad parameter, 409 conflict, 503 busy…) answers an error.
    responses.insert("default".into(), error_response("Erreur"));
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
        Body::Organisation => Some(json_content(schema::<Organisation>(generator))),
        Body::Activity => Some(json_content(schema::<Activity>(generator))),
        Body::RegisterFile => Some(json!({
            "application/yaml": { "schema": { "type": "string", "description": "registre au format registre/v1" } },
            "application/json": { "schema": schema::<Register>(generator) },
        })),
        Body::Json(schema) => Some(json_content(schema(generator))),
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
    let mut generator = SchemaGenerator::new(
        SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into()),
    );
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = operation(r, &mut generator);
    }
    let mut schemas = generator.take_definitions(true);
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
