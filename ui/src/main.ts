import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { connectBackend } from './lib/backend';
import { stubOptionsFromQuery } from './lib/backend-stub';

const target = document.getElementById('app');
if (!target) throw new Error('missing #app element');

export default mount(App, { target, props: { backend: connectBackend(stubOptionsFromQuery(location.search)) } });
