//! Expansion of `#[derive(State)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Ident, Path, Type};

/// The merge rule of one field, as written in its `#[state(...)]` attribute.
enum Rule {
    LastValue,
    Append,
    Merge,
    Add,
    Custom(Path),
}

struct Field {
    ident: Ident,
    ty: Type,
    rule: Rule,
    serde: FieldSerde,
}

/// The field's own serde attributes that change how its value is (de)serialized. Checkpoints
/// store fields one by one, so they must be honoured field by field too.
#[derive(Default)]
struct FieldSerde {
    serialize_with: Option<Path>,
    deserialize_with: Option<Path>,
    skip: bool,
}

fn parse_serde(field: &syn::Field) -> syn::Result<FieldSerde> {
    let mut out = FieldSerde::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let path_value = |meta: &syn::meta::ParseNestedMeta| -> syn::Result<Path> {
                let lit: syn::LitStr = meta.value()?.parse()?;
                lit.parse()
            };
            if meta.path.is_ident("with") {
                let module = path_value(&meta)?;
                out.serialize_with = Some(syn::parse_quote!(#module::serialize));
                out.deserialize_with = Some(syn::parse_quote!(#module::deserialize));
            } else if meta.path.is_ident("serialize_with") {
                out.serialize_with = Some(path_value(&meta)?);
            } else if meta.path.is_ident("deserialize_with") {
                out.deserialize_with = Some(path_value(&meta)?);
            } else if meta.path.is_ident("skip") {
                out.skip = true;
            } else if meta.input.peek(syn::Token![=]) {
                // Other serde attributes (rename, default, ...) do not change a lone value.
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// The most fields one state may have: `FieldSet` is a 128-bit set.
const MAX_FIELDS: usize = 128;

pub fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let vis = &input.vis;
    let mut update_name = format_ident!("{}Update", name);
    let mut extra_derives: Vec<Path> = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("state")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("update") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                update_name = lit.parse()?;
                Ok(())
            } else if meta.path.is_ident("derive") {
                meta.parse_nested_meta(|inner| {
                    extra_derives.push(inner.path);
                    Ok(())
                })
            } else {
                Err(meta.error("expected `update = \"Name\"` or `derive(...)`"))
            }
        })?;
    }

    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(State)] needs a struct with named fields",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(State)] needs a struct with named fields",
        ));
    };
    let fields = named
        .named
        .iter()
        .map(parse_field)
        .collect::<syn::Result<Vec<_>>>()?;
    if fields.len() > MAX_FIELDS {
        return Err(syn::Error::new_spanned(
            name,
            format!("#[derive(State)] supports at most {MAX_FIELDS} fields"),
        ));
    }

    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let generic_params = &input.generics.params;
    let core_path = crate::crate_path::core_path();
    let serde_crate = format!("{}::__private::serde", core_path.text);
    let core = core_path.tokens;

    let idents: Vec<&Ident> = fields.iter().map(|f| &f.ident).collect();
    let types: Vec<&Type> = fields.iter().map(|f| &f.ty).collect();
    let names: Vec<String> = idents.iter().map(|i| unraw(i)).collect();
    let overwrite_setters: Vec<Ident> = names.iter().map(|n| format_ident!("overwrite_{}", n)).collect();
    let indices: Vec<usize> = (0..fields.len()).collect();

    let setter_docs: Vec<String> = names
        .iter()
        .map(|n| format!("Writes `{n}` through its merge rule."))
        .collect();
    let overwrite_docs: Vec<String> = names
        .iter()
        .map(|n| format!("Replaces `{n}` outright, bypassing its merge rule."))
        .collect();

    let apply_fields = fields.iter().enumerate().map(|(i, f)| {
        let ident = &f.ident;
        let field_name = unraw(ident);
        let call = match &f.rule {
            Rule::LastValue => quote!(#core::__private::apply_field::<_, #core::state::LastValue>(
                &mut self.#ident, write, &mut guards[#i], #field_name, writer)),
            Rule::Append => quote!(#core::__private::apply_field::<_, #core::state::Append>(
                &mut self.#ident, write, &mut guards[#i], #field_name, writer)),
            Rule::Merge => quote!(#core::__private::apply_field::<_, #core::state::Merge>(
                &mut self.#ident, write, &mut guards[#i], #field_name, writer)),
            Rule::Add => quote!(#core::__private::apply_field::<_, #core::state::Add>(
                &mut self.#ident, write, &mut guards[#i], #field_name, writer)),
            Rule::Custom(path) => quote!(#core::__private::apply_field_with(
                &mut self.#ident, write, &mut guards[#i], #field_name, writer, false, #path)),
        };
        quote! {
            if let ::core::option::Option::Some(write) = update.#ident {
                #call?;
                changed.insert(#i);
            }
        }
    });

    let field_count = fields.len();
    // Append fields with the default serde encoding are stored as deltas.
    let appendable: Vec<(usize, &Field)> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.rule, Rule::Append) && f.serde.serialize_with.is_none() && !f.serde.skip)
        .collect();
    let append_indices: Vec<usize> = appendable.iter().map(|(i, _)| *i).collect();
    let append_idents: Vec<&Ident> = appendable.iter().map(|(_, f)| &f.ident).collect();
    let append_types: Vec<&Type> = appendable.iter().map(|(_, f)| &f.ty).collect();
    let append_names: Vec<String> = appendable.iter().map(|(_, f)| unraw(&f.ident)).collect();
    let encoders = fields.iter().enumerate().map(|(i, f)| encoder(i, f));
    let decoders = fields.iter().map(decoder);
    let update_doc = format!(
        "A partial update of [`{name}`]: each field set is merged with that field's rule. \
         Generated by `#[derive(State)]`."
    );
    let derive_attr = if extra_derives.is_empty() {
        quote!()
    } else {
        quote!(#[derive(#(#extra_derives),*)])
    };

    Ok(quote! {
        #[doc = #update_doc]
        #[must_use = "an update does nothing until a node returns it"]
        #derive_attr
        #[derive(#core::__private::serde::Serialize, #core::__private::serde::Deserialize)]
        // Generic states carry serde bounds on their parameters (State requires serde), so the
        // update needs no extra ones (extra ones would make `DeserializeOwned` bounds ambiguous).
        #[serde(crate = #serde_crate, bound = "")]
        #vis struct #update_name <#generic_params> #where_clause {
            #(
                #[doc = concat!("The write to `", #names, "`, if any.")]
                #[serde(default, skip_serializing_if = "::core::option::Option::is_none")]
                pub #idents: ::core::option::Option<#core::__private::Write<#types>>,
            )*
        }

        impl #impl_generics ::core::default::Default for #update_name #ty_generics #where_clause {
            fn default() -> Self {
                Self { #( #idents: ::core::option::Option::None, )* }
            }
        }

        impl #impl_generics ::core::clone::Clone for #update_name #ty_generics #where_clause {
            fn clone(&self) -> Self {
                Self { #( #idents: ::core::clone::Clone::clone(&self.#idents), )* }
            }
        }

        impl #impl_generics ::core::fmt::Debug for #update_name #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                // Field values need not be Debug, so show which fields are written and how.
                let mut s = f.debug_struct(stringify!(#update_name));
                #(
                    if let ::core::option::Option::Some(w) = &self.#idents {
                        s.field(#names, &::core::format_args!("{}", w.kind()));
                    }
                )*
                s.finish()
            }
        }

        impl #impl_generics #update_name #ty_generics #where_clause {
            #(
                #[doc = #setter_docs]
                pub fn #idents(mut self, value: #types) -> Self {
                    self.#idents = ::core::option::Option::Some(#core::__private::Write::Value(value));
                    self
                }

                #[doc = #overwrite_docs]
                pub fn #overwrite_setters(mut self, value: #types) -> Self {
                    self.#idents = ::core::option::Option::Some(#core::__private::Write::Overwrite(value));
                    self
                }
            )*
        }

        impl #impl_generics ::core::convert::From<#name #ty_generics> for #update_name #ty_generics #where_clause {
            fn from(state: #name #ty_generics) -> Self {
                Self {
                    #( #idents: ::core::option::Option::Some(#core::__private::Write::Value(state.#idents)), )*
                }
            }
        }

        impl #impl_generics #core::state::IntoOverwrite for #name #ty_generics #where_clause {
            fn into_overwrite(self) -> #update_name #ty_generics {
                #update_name {
                    #( #idents: ::core::option::Option::Some(#core::__private::Write::Overwrite(self.#idents)), )*
                }
            }
        }

        impl #impl_generics ::core::convert::From<#update_name #ty_generics> for #core::Command<#name #ty_generics> #where_clause {
            fn from(update: #update_name #ty_generics) -> Self {
                #core::Command::update(update)
            }
        }

        impl #impl_generics ::core::convert::From<#update_name #ty_generics> for #core::RunInput<#name #ty_generics> #where_clause {
            fn from(update: #update_name #ty_generics) -> Self {
                #core::RunInput::Update(update)
            }
        }

        impl #impl_generics #core::State for #name #ty_generics #where_clause {
            type Update = #update_name #ty_generics;

            const FIELDS: &'static [&'static str] = &[#(#names),*];

            fn is_empty_update(update: &Self::Update) -> bool {
                true #( && update.#idents.is_none() )*
            }

            fn written_fields(update: &Self::Update) -> #core::state::FieldSet {
                let mut set = #core::state::FieldSet::EMPTY;
                #( if update.#idents.is_some() { set.insert(#indices); } )*
                set
            }

            fn encode_fields(
                &self,
                fields: #core::state::FieldSet,
                codec: &dyn #core::checkpoint::Codec,
            ) -> ::core::result::Result<
                ::std::vec::Vec<(&'static str, ::std::vec::Vec<u8>)>,
                #core::checkpoint::CodecError,
            > {
                let mut out = ::std::vec::Vec::with_capacity(fields.len());
                #( #encoders )*
                ::core::result::Result::Ok(out)
            }

            fn decode_field(
                &mut self,
                name: &str,
                bytes: &[u8],
                codec: &dyn #core::checkpoint::Codec,
            ) -> ::core::result::Result<bool, #core::checkpoint::CodecError> {
                match name {
                    #( #decoders )*
                    _ => ::core::result::Result::Ok(false),
                }
            }

            fn apply_tracked<'w, I>(&mut self, updates: I)
                -> ::core::result::Result<#core::state::Applied, #core::state::UpdateError>
            where
                I: ::core::iter::IntoIterator<Item = (&'w str, Self::Update)>,
            {
                let mut guards = [#core::__private::FieldGuard::<'w>::NEW; #field_count];
                let mut changed = #core::state::FieldSet::EMPTY;
                for (writer, update) in updates {
                    #( #apply_fields )*
                }
                let mut replaced = #core::state::FieldSet::EMPTY;
                for (index, guard) in guards.iter().enumerate() {
                    if guard.overwritten() {
                        replaced.insert(index);
                    }
                }
                ::core::result::Result::Ok(#core::state::Applied { changed, replaced })
            }

            fn append_len(&self, index: usize) -> ::core::option::Option<usize> {
                match index {
                    #( #append_indices => ::core::option::Option::Some(#core::__private::seq_len(&self.#append_idents)), )*
                    _ => ::core::option::Option::None,
                }
            }

            fn encode_tail(
                &self,
                index: usize,
                from: usize,
                codec: &dyn #core::checkpoint::Codec,
            ) -> ::core::result::Result<::core::option::Option<::std::vec::Vec<u8>>, #core::checkpoint::CodecError> {
                match index {
                    #( #append_indices => ::core::result::Result::Ok(::core::option::Option::Some(
                        codec.to_bytes(&#core::__private::Tail(&self.#append_idents, from))?
                    )), )*
                    _ => ::core::result::Result::Ok(::core::option::Option::None),
                }
            }

            fn decode_append(
                &mut self,
                name: &str,
                bytes: &[u8],
                codec: &dyn #core::checkpoint::Codec,
            ) -> ::core::result::Result<bool, #core::checkpoint::CodecError> {
                match name {
                    #( #append_names => {
                        let tail: #append_types = codec.from_bytes(bytes)?;
                        ::core::iter::Extend::extend(&mut self.#append_idents, tail);
                        ::core::result::Result::Ok(true)
                    } )*
                    _ => ::core::result::Result::Ok(false),
                }
            }
        }
    })
}

fn encoder(index: usize, field: &Field) -> TokenStream {
    let ident = &field.ident;
    let ty = &field.ty;
    let name = unraw(ident);
    let serde_path: TokenStream = serde_path();
    if field.serde.skip {
        return quote!();
    }
    match &field.serde.serialize_with {
        None => quote! {
            if fields.contains(#index) {
                out.push((#name, codec.to_bytes(&self.#ident)?));
            }
        },
        Some(path) => quote! {
            if fields.contains(#index) {
                struct __Encode<'a>(&'a #ty);
                impl #serde_path::Serialize for __Encode<'_> {
                    fn serialize<__S: #serde_path::Serializer>(
                        &self,
                        serializer: __S,
                    ) -> ::core::result::Result<__S::Ok, __S::Error> {
                        #path(self.0, serializer)
                    }
                }
                out.push((#name, codec.to_bytes(&__Encode(&self.#ident))?));
            }
        },
    }
}

fn decoder(field: &Field) -> TokenStream {
    let ident = &field.ident;
    let ty = &field.ty;
    let name = unraw(ident);
    let serde_path: TokenStream = serde_path();
    if field.serde.skip {
        return quote!();
    }
    match &field.serde.deserialize_with {
        None => quote! {
            #name => {
                self.#ident = codec.from_bytes(bytes)?;
                ::core::result::Result::Ok(true)
            }
        },
        Some(path) => quote! {
            #name => {
                struct __Decode(#ty);
                impl<'de> #serde_path::Deserialize<'de> for __Decode {
                    fn deserialize<__D: #serde_path::Deserializer<'de>>(
                        deserializer: __D,
                    ) -> ::core::result::Result<Self, __D::Error> {
                        #path(deserializer).map(__Decode)
                    }
                }
                self.#ident = codec.from_bytes::<__Decode>(bytes)?.0;
                ::core::result::Result::Ok(true)
            }
        },
    }
}

fn parse_field(field: &syn::Field) -> syn::Result<Field> {
    let ident = field
        .ident
        .clone()
        .ok_or_else(|| syn::Error::new_spanned(field, "expected a named field"))?;
    let mut rule = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("state")) {
        attr.parse_nested_meta(|meta| {
            let next = if meta.path.is_ident("append") {
                Rule::Append
            } else if meta.path.is_ident("merge") {
                Rule::Merge
            } else if meta.path.is_ident("add") {
                Rule::Add
            } else if meta.path.is_ident("last_value") {
                Rule::LastValue
            } else if meta.path.is_ident("reducer") {
                Rule::Custom(meta.value()?.parse()?)
            } else {
                return Err(meta.error(
                    "unknown merge rule: expected `append`, `merge`, `add`, `last_value` \
                     or `reducer = path::to::fn`",
                ));
            };
            if rule.replace(next).is_some() {
                return Err(meta.error("a field takes one merge rule"));
            }
            Ok(())
        })?;
    }
    Ok(Field {
        ident,
        ty: field.ty.clone(),
        rule: rule.unwrap_or(Rule::LastValue),
        serde: parse_serde(field)?,
    })
}

/// The field's name as users spell it (without a raw-identifier prefix).
fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The path of the serde the generated code uses: the one the core re-exports.
fn serde_path() -> TokenStream {
    let core = crate::crate_path::core_path().tokens;
    quote!(#core::__private::serde)
}
