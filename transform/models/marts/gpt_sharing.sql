-- Which GPTs are shared outside the team, and who owns them? One row per GPT the API lists now.
{{ sharing_summary('gpt', ref('stg_gpts'), 'gpt_id', ['gpt_name']) }}
